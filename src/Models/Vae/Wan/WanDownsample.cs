using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// diffusers' WanResample in the encoder's two modes: downsample2d, on every frame a zero column on the right and a
/// zero row at the bottom (ZeroPad2d(0, 1, 0, 1)) then a 3×3 Conv2d with stride 2 (resample.1); downsample3d, the
/// same, then time_conv, a 3×1×1 convolution with stride 2 in time and no padding over the previous chunk's last
/// frame followed by this chunk's frames (n frames → ⌊(n − 2)/2⌋ + 1). The first chunk skips time_conv (diffusers
/// keeps its frames as the cache and passes them on), so the first video frame stays one latent frame.
/// </summary>
public sealed class WanDownsample
{
    public WanDownsample(WeightScope w, int channels, bool time)
    {
        Conv = VaeConv.Load(w.Pp("resample.1"), channels, channels, 3);
        if (time)
        {
            var tc = w.Pp("time_conv");
            TimeWeight = tc.GetOperand("weight", channels, channels, 3, 1, 1).Reshape(channels, channels * 3, 1, 1);
            TimeBias = tc.GetOperand("bias", channels);
        }
    }

    public VaeConv Conv { get; }
    /// <summary>time_conv as a Conv2d weight over a frame's 3-frame window stacked as channels [C, C·3, 1, 1].</summary>
    public Tensor? TimeWeight { get; }
    public Tensor? TimeBias { get; }

    /// <summary>x [B, C, T, H, W] → [B, C, T', ⌊(H − 2)/2⌋ + 1, ⌊(W − 2)/2⌋ + 1]; <paramref name="last"/> keeps
    /// this layer's last frame for the next chunk.</summary>
    public Tensor Forward(IOps ops, Tensor x, WanDownsampleCache last)
    {
        using var frameMajor = Spatial(ops, x);
        var y = frameMajor.Permute(1, 2, 0, 3, 4);   // [B, C, T, H', W'] view
        if (TimeWeight is null) return ops.Contiguous(y);
        var previous = last.Get(this);
        last.Set(this, ops.Contiguous(y.Slice(2, y.Dim(2) - 1, 1)));
        try
        {
            if (previous is null) return ops.Contiguous(y);   // the first chunk
            int b = y.Dim(0), c = y.Dim(1), t = y.Dim(2), h = y.Dim(3), w = y.Dim(4), m = (t + 1 - 3) / 2 + 1;
            if (t < 2) throw new ArgumentException($"{Conv.Name}: a chunk after the first needs 2 frames or more for time_conv, got {t}");
            // output frame k reads frames 2k, 2k + 1, 2k + 2 of [previous, y0, y1, ...]
            using var stacked = ops.Empty(y.DType, m, b, c, 3, h, w);
            for (int k = 0; k < m; k++)
                for (int j = 0; j < 3; j++)
                {
                    int s = 2 * k + j;
                    ops.Copy(stacked.Select(0, k).Select(2, j), s == 0 ? previous.Select(2, 0) : y.Select(2, s - 1));
                }
            using var o = ops.Conv2d(stacked.Reshape(m * b, c * 3, h, w), TimeWeight, TimeBias);
            return ops.Contiguous(o.Reshape(m, b, c, h, w).Permute(1, 2, 0, 3, 4));
        }
        finally { previous?.Dispose(); }
    }

    /// <summary>The zero pad and the strided 3×3 convolution of every frame, as one Conv2d over the frames
    /// (frame-major) → [T, B, C, H', W'].</summary>
    Tensor Spatial(IOps ops, Tensor x)
    {
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4);
        using var padded = ops.Zeros(x.DType, t, b, c, h + 1, w + 1);
        ops.Copy(padded.Slice(3, 0, h).Slice(4, 0, w), x.Permute(2, 0, 1, 3, 4));
        var y = ops.Conv2d(padded.Reshape(t * b, c, h + 1, w + 1), Conv.Weight, Conv.Bias, stride: 2, padding: 0);
        return y.TakeReshaped(t, b, c, y.Dim(2), y.Dim(3));
    }
}

/// <summary>Each downsample3d's last frame of the previous chunk (diffusers' feat_cache entries of the encoder's
/// time_conv), [B, C, 1, H, W]; owned here.</summary>
public sealed class WanDownsampleCache : IDisposable
{
    readonly Dictionary<WanDownsample, Tensor> _last = new(ReferenceEqualityComparer.Instance);

    /// <summary>The frame <paramref name="layer"/> kept, handed to the caller (who disposes it), or null.</summary>
    public Tensor? Get(WanDownsample layer) => _last.Remove(layer, out var t) ? t : null;

    public void Set(WanDownsample layer, Tensor frame)
    {
        if (_last.Remove(layer, out var old)) old.Dispose();
        _last[layer] = frame;
    }

    public void Dispose()
    {
        foreach (var t in _last.Values) t.Dispose();
        _last.Clear();
    }
}
