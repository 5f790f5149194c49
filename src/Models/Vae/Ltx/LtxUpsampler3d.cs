using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// diffusers' LTXVideoUpsampler3d at stride (2, 2, 2): a 3×3×3 causal/non-causal convolution from C to 8C/f channels
/// (f the upsample_factor), then depth-to-space: output channel c' at voxel (2t + a, 2y + r, 2x + q) is conv
/// channel 8c' + 4a + 2r + q at (t, y, x); the doubled sequence's first frame is dropped, so T frames become 2T − 1.
/// With upsample_residual the input goes through the same depth-to-space (C/8 channels), repeated 8/f times along
/// the channels, and is added: channel c' of the result reads input channel c' mod C/8, which before the
/// rearrangement is conv channel block r·C + (the input's own channel), so the sum is taken there, as one broadcast
/// Add of the input over the 8/f channel blocks, and the frame drop applies to both alike.
/// </summary>
public sealed class LtxUpsampler3d
{
    public LtxUpsampler3d(WeightScope w, int inChannels, int factor, bool residual, bool causal)
    {
        InChannels = inChannels;
        Factor = factor;
        Residual = residual;
        Conv = LtxCausalConv3d.Load(w.Pp("conv"), inChannels, inChannels * 8 / factor, 3, causal);
    }

    public int InChannels { get; }
    public int Factor { get; }
    public bool Residual { get; }
    public LtxCausalConv3d Conv { get; }
    public int OutChannels => InChannels / Factor;

    /// <summary>x [B, C, T, H, W] → [B, C/f, 2T − 1, 2H, 2W], contiguous.</summary>
    public Tensor Forward(IOps ops, Tensor x, long gatherElements)
    {
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), o = OutChannels;
        var y = Conv.Forward(ops, x, null, gatherElements);   // [B, 8C/f, T, H, W]
        if (Residual)
        {
            var conv = y;
            using (conv)
            using (var xc = x.IsContiguous ? null : ops.Contiguous(x))
                y = ops.Add(conv.Reshape(b, 8 / Factor, c, t, h, w), (xc ?? x).Reshape(b, 1, c, t, h, w)).TakeReshaped(b, 8 * c / Factor, t, h, w);
        }
        using (y)
        {
            // [B, C', 2, 2, 2, T, H, W] → [B, C', T, 2, H, 2, W, 2]
            var voxels = y.Reshape(b, o, 2, 2, 2, t, h, w).Permute(0, 1, 5, 2, 6, 3, 7, 4);
            var output = ops.Empty(y.DType, b, o, 2 * t - 1, 2 * h, 2 * w);
            try
            {
                // frame 0 of the result is doubled frame 1: (t = 0, a = 1); then frames 2t − 1, 2t for t ≥ 1
                ops.Copy(LtxLayout.Unflatten(LtxLayout.Unflatten(output.Select(2, 0), 3, w, 2), 2, h, 2), voxels.Select(2, 0).Select(2, 1));
                if (t > 1) ops.Copy(LtxLayout.SplitVoxels(output.Slice(2, 1, 2 * t - 2), 2, 2), voxels.Slice(2, 1, t - 1));
            }
            catch { output.Dispose(); throw; }
            return output;
        }
    }
}
