using XDit.Runtime;

namespace XDit.Models.Embeddings;

/// <summary>Opens the weights of a diffusers model folder (config.json plus diffusion_pytorch_model weights),
/// ignoring other safetensors files that may sit beside them (fixtures keep io.safetensors there).</summary>
public static class DiffusersCheckpoint
{
    public const string Stem = "diffusion_pytorch_model";

    public static ITensorSource Open(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: model folder not found");
        foreach (var variant in new[] { "", ".fp16", ".bf16" })
        {
            var index = Path.Combine(dir, $"{Stem}{variant}.safetensors.index.json");
            if (File.Exists(index)) return new ShardedCheckpoint(index);
            var single = Path.Combine(dir, $"{Stem}{variant}.safetensors");
            if (File.Exists(single)) return new SafetensorsFile(single);
        }
        return Checkpoint.Open(dir);
    }
}
