using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// diffusers' conv_cache of one decode: for every causal convolution, the last (time kernel − 1) frames of the input
/// it saw in the previous batch of latent frames (after its own front padding), which the next batch puts in front of
/// its frames instead of repeating its first one. Frame-major [k − 1, B, C, H, W], as the convolution reads them.
/// Owned by the decode that made it; disposing frees every cached tensor.
/// </summary>
public sealed class CogVideoXConvCache : IDisposable
{
    readonly Dictionary<CogVideoXCausalConv3d, Tensor> _frames = new(ReferenceEqualityComparer.Instance);

    /// <summary>Elements of gathered input a convolution builds for one Conv2d call at most
    /// (<see cref="CogVideoXCausalConv3d.DefaultGatherElements"/>; smaller in tests, to make several chunks).</summary>
    public long GatherElements { get; init; } = CogVideoXCausalConv3d.DefaultGatherElements;

    /// <summary>The frames <paramref name="conv"/> cached in the previous batch, or null in the first.</summary>
    public Tensor? Get(CogVideoXCausalConv3d conv) => _frames.GetValueOrDefault(conv);

    /// <summary>Replaces what <paramref name="conv"/> cached (the old tensor is freed).</summary>
    public void Set(CogVideoXCausalConv3d conv, Tensor frames)
    {
        if (_frames.Remove(conv, out var old)) old.Dispose();
        _frames[conv] = frames;
    }

    /// <summary>Bytes held (the pipeline's memory estimate: a few frames per convolution).</summary>
    public long Bytes => _frames.Values.Sum(t => t.ByteCount);

    public int Count => _frames.Count;

    public void Dispose()
    {
        foreach (var t in _frames.Values) t.Dispose();
        _frames.Clear();
    }
}
