using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// The DC-AE's channel rearrangements, as copies of strided views (Concat and Contiguous), so they need no op of
/// their own: torch's <c>repeat_interleave</c> over channels (the decoder's input shortcut and the up blocks'
/// shortcuts) and <c>pixel_shuffle</c> by 2. Both act on each pixel or 2×2 cell alone, so a band of rows
/// rearranges on its own.
/// </summary>
public static class DcChannelLayout
{
    /// <summary>x [B, C, H, W] → [B, C·r, H, W] with channel c·r + k a copy of channel c (torch.repeat_interleave(x, r, dim=1)).</summary>
    public static Tensor RepeatChannels(IOps ops, Tensor x, int repeats)
    {
        if (x.Rank != 4) throw new ArgumentException($"RepeatChannels: x must be [B, C, H, W], got {Shape.Format(x.ShapeSpan)}");
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), $"RepeatChannels: {repeats} repeats");
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        if (repeats == 1) return ops.Contiguous(x);
        var one = x.Unsqueeze(2);                                   // [B, C, 1, H, W]
        var stacked = ops.Concat(2, Enumerable.Repeat(one, repeats).ToArray());   // [B, C, r, H, W]
        return stacked.TakeReshaped(b, c * repeats, h, w);
    }

    /// <summary>x [B, 4·C, H, W] → [B, C, 2H, 2W], out[c, 2h + i, 2w + j] = x[4c + 2i + j, h, w] (F.pixel_shuffle(x, 2)).</summary>
    public static Tensor PixelShuffle2(IOps ops, Tensor x)
    {
        if (x.Rank != 4 || x.Dim(1) % 4 != 0)
            throw new ArgumentException($"PixelShuffle2: x must be [B, 4·C, H, W], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), c = x.Dim(1) / 4, h = x.Dim(2), w = x.Dim(3);
        var s = x.Strides;
        // x as [B, C, i, j, H, W] (channel 4c + 2i + j), read in the order [B, C, H, i, W, j]
        var view = new Tensor(x.Storage, x.DType, [b, c, h, 2, w, 2], [s[0], 4 * s[1], s[2], 2 * s[1], s[3], s[1]], x.Offset);
        return ops.Contiguous(view).TakeReshaped(b, c, 2 * h, 2 * w);
    }
}
