using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// Initial latents read from a safetensors file (`xdit generate --latents`): the tensor named initial_latents,
/// latents, in.latents_unpacked or in.latents (a whole-pipeline fixture's io.safetensors), or the file's only
/// tensor. It must be a float tensor [batch, channels, height / VAE factor, width / VAE factor], or for a video pipeline
/// five dimensions with the frames (CogVideoX [B, F_lat, C, h, w], Latte [B, C, F, h, w]); the pipeline then
/// checks that shape against the run's and the values for NaN and infinity. An integer tensor is refused rather than
/// converted by value, and a file with several unknown tensors rather than one picked by name order.
/// </summary>
public sealed record LatentsFile(float[] Values, int[] Shape, string TensorName)
{
    static readonly string[] KnownNames = ["initial_latents", "latents", "in.latents_unpacked", "in.latents"];

    public static LatentsFile Read(string path)
    {
        using var src = Checkpoint.Open(path);
        var name = KnownNames.FirstOrDefault(src.Names.Contains) ?? src.Names.Count switch
        {
            0 => throw new FormatException($"{path}: the file holds no tensors; expected the initial latents [batch, channels, height/f, width/f] (named initial_latents or latents)"),
            1 => src.Names.First(),
            _ => throw new FormatException($"{path}: none of its {src.Names.Count} tensors is named {string.Join(", ", KnownNames)} ({string.Join(", ", src.Names.Order(StringComparer.Ordinal).Take(8))}{(src.Names.Count > 8 ? ", ..." : "")}); name the latents one of those"),
        };
        var info = src.Info(name);
        if (info.DType is not (DType.F32 or DType.F16 or DType.BF16))
            throw new FormatException($"{path}: tensor '{name}' is {info.DType}; latents must be a float tensor (F32, F16 or BF16)");
        if (info.Shape.Length is not (4 or 5))
            throw new FormatException($"{path}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}], expected 4 dimensions [batch, channels, height/f, width/f] (a video pipeline's: 5, with the frames)");
        if (info.NumElements == 0) throw new FormatException($"{path}: tensor '{name}' is empty (shape [{string.Join(", ", info.Shape)}])");
        using var t = src.ReadF32(name);
        return new LatentsFile(t.ToFloatArray(), info.Shape, name);
    }
}
