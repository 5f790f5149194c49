namespace XDit.Models.Vae.CogVideoX;

/// <summary>The frame arithmetic of the CogVideoX decoder: which latent frames decode together, and nearest-neighbour
/// frame indices as PyTorch computes them.</summary>
public static class CogVideoXFrames
{
    /// <summary>diffusers' _decode batching: ⌊F / n⌋ batches (at least one) of n latent frames, the remainder
    /// F mod n going to the first batch (13 frames by 2: 0–2, 3–4, …, 11–12). Each (start, count).</summary>
    public static IReadOnlyList<(int Start, int Count)> Batches(int latentFrames, int batchSize)
    {
        if (latentFrames < 1) throw new ArgumentOutOfRangeException(nameof(latentFrames), $"need at least one latent frame, got {latentFrames}");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"frame batch size must be at least 1, got {batchSize}");
        int batches = Math.Max(latentFrames / batchSize, 1), rest = latentFrames % batchSize;
        var result = new List<(int, int)>(batches);
        for (int i = 0; i < batches; i++)
        {
            int start = batchSize * i + (i == 0 ? 0 : rest);
            int end = Math.Min(batchSize * (i + 1) + rest, latentFrames);
            result.Add((start, end - start));
        }
        return result;
    }

    /// <summary>PyTorch's nearest source index (F.interpolate mode "nearest") of output index <paramref name="i"/>
    /// when <paramref name="input"/> entries are resized to <paramref name="output"/>: the same index, i/2 for an
    /// exact doubling, else min(⌊i·(input/output)⌋, input − 1) with the ratio in float32.</summary>
    public static int NearestSource(int i, int input, int output)
    {
        if (output == input) return i;
        if (output == 2 * input) return i >> 1;
        float scale = (float)input / output;
        return Math.Min((int)MathF.Floor(i * scale), input - 1);
    }
}
