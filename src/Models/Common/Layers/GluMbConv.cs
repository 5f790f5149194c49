using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// diffusers GLUMBConv, the Mix-FFN of SANA's blocks and of DC-AE's EfficientViT blocks: conv_inverted (1×1,
/// C → 2F, bias) → SiLU → conv_depth (depth-wise k×k over the 2F channels, bias) → hidden·SiLU(gate) of its two
/// channel halves → conv_point (1×1, F → C_out, no bias), then optionally an RMSNorm over channels with weight and
/// bias (DC-AE's norm_type "rms_norm", eps 1e-5) and the residual (DC-AE's residual_connection). SANA uses neither.
///
/// The 1×1 convolutions are GEMMs over tokens [B, N, C] (N = H·W row-major), the layout SANA's blocks hold; only the
/// depth-wise convolution needs the image layout, as a view. <see cref="ApplyImage"/> takes DC-AE's [B, C, H, W].
/// </summary>
public sealed class GluMbConv
{
    /// <summary>diffusers' RMSNorm eps in GLUMBConv.</summary>
    public const float NormEps = 1e-5f;

    readonly Linear _inverted, _point;
    readonly Tensor _depthWeight;   // [2F, 1, k, k]
    readonly Tensor? _depthBias;
    readonly Tensor? _normWeight, _normBias;
    readonly bool _residual;
    readonly int _kernel;

    GluMbConv(Linear inverted, Tensor depthWeight, Tensor? depthBias, Linear point, Tensor? normWeight, Tensor? normBias, bool residual)
    {
        (_inverted, _depthWeight, _depthBias, _point, _normWeight, _normBias, _residual) = (inverted, depthWeight, depthBias, point, normWeight, normBias, residual);
        _kernel = depthWeight.Dim(2);
    }

    /// <summary>Hidden width F = int(expand_ratio · in_channels), as diffusers computes it.</summary>
    public static int HiddenChannels(int inChannels, double expandRatio) => (int)(expandRatio * inChannels);

    /// <summary>Loads conv_inverted [2F, C, 1, 1] + bias, conv_depth [2F, 1, k, k] + bias, conv_point [C_out, F, 1, 1]
    /// and, with <paramref name="rmsNorm"/>, norm.weight and norm.bias [C_out] from the module's scope.</summary>
    public static GluMbConv Load(WeightScope w, int inChannels, int outChannels, double expandRatio, bool rmsNorm = false,
        bool residual = false, int kernelSize = 3)
    {
        int f = HiddenChannels(inChannels, expandRatio);
        if (f <= 0) throw new ArgumentException($"{w}: GLUMBConv hidden width int({expandRatio} × {inChannels}) must be ≥ 1");
        if (residual && inChannels != outChannels)
            throw new ArgumentException($"{w}: a GLUMBConv residual needs in_channels {inChannels} = out_channels {outChannels}");
        var inv = w.Pp("conv_inverted");
        var inverted = new Linear(inv.GetOperand("weight", 2 * f, inChannels, 1, 1).Reshape(2 * f, inChannels), inv.GetOperand("bias", 2 * f));
        var depth = w.Pp("conv_depth");
        var depthWeight = depth.GetOperand("weight", 2 * f, 1, kernelSize, kernelSize);
        var depthBias = depth.GetOperand("bias", 2 * f);
        var point = new Linear(w.Pp("conv_point").GetOperand("weight", outChannels, f, 1, 1).Reshape(outChannels, f), null);
        Tensor? nw = null, nb = null;
        if (rmsNorm)
        {
            nw = w.Get("norm.weight", outChannels);
            nb = w.Get("norm.bias", outChannels);
        }
        return new GluMbConv(inverted, depthWeight, depthBias, point, nw, nb, residual);
    }

    public int InChannels => _inverted.InFeatures;
    public int OutChannels => _point.OutFeatures;
    public int Hidden => _point.InFeatures;

    /// <summary>Tokens [B, H·W, C] (row-major over the H×W grid) → [B, H·W, C_out].</summary>
    public Tensor ApplyTokens(IOps ops, Tensor x, int gridH, int gridW)
    {
        using var m = GatedDepthwise(ops, x, gridH, gridW);
        var y = _point.Apply(ops, m);
        return Finish(ops, x, y);
    }

    /// <summary>residual ← residual + gate·ApplyTokens(x), the last GEMM adding its gated output into the residual
    /// (no norm nor residual of its own: SANA's use).</summary>
    public void ApplyTokensGatedResidualInto(IOps ops, Tensor residual, Tensor x, int gridH, int gridW, Tensor gate)
    {
        if (_normWeight is not null || _residual)
            throw new InvalidOperationException("GLUMBConv with an RMSNorm or a residual of its own has no gated-residual form");
        using var m = GatedDepthwise(ops, x, gridH, gridW);
        _point.ApplyGatedResidualInto(ops, residual, m, gate);
    }

    /// <summary>
    /// residual ← residual + gate·ApplyTokens(grid)[start, start + count): the rows of one sequence shard, from
    /// <paramref name="grid"/> [B, gridH·gridW, C] holding every token (gathered over the ranks). Only the band of
    /// grid rows the shard touches, plus one row above and below for the depth-wise kernel's reach, is computed;
    /// the band's edges are zero-padded as the image's are, which changes only rows outside the shard.
    /// </summary>
    public void ApplyTokenRangeGatedResidualInto(IOps ops, Tensor residual, Tensor grid, int gridH, int gridW, int start, int count, Tensor gate)
    {
        if (start < 0 || count < 0 || start + count > gridH * gridW || residual.Rank != 3 || residual.Dim(1) != count)
            throw new ArgumentException($"GLUMBConv token range [{start}, {start + count}) of a {gridH}×{gridW} grid does not fit residual {Shape.Format(residual.ShapeSpan)}");
        if (start == 0 && count == gridH * gridW)
        {
            ApplyTokensGatedResidualInto(ops, residual, grid, gridH, gridW, gate);
            return;
        }
        if (_normWeight is not null || _residual)
            throw new InvalidOperationException("GLUMBConv with an RMSNorm or a residual of its own has no gated-residual form");
        int reach = _kernel / 2;
        int r0 = Math.Max(0, start / gridW - reach), r1 = Math.Min(gridH, (start + count + gridW - 1) / gridW + reach);
        var band = grid.Slice(1, r0 * gridW, (r1 - r0) * gridW);
        using var m = GatedDepthwise(ops, band, r1 - r0, gridW);
        _point.ApplyGatedResidualInto(ops, residual, m.Slice(1, start - r0 * gridW, count), gate);
    }

    /// <summary>Image [B, C, H, W] → [B, C_out, H, W] (DC-AE's layout).</summary>
    public Tensor ApplyImage(IOps ops, Tensor x)
    {
        if (x.Rank != 4 || x.Dim(1) != InChannels)
            throw new ArgumentException($"GLUMBConv input must be [B, {InChannels}, H, W]; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), h = x.Dim(2), w = x.Dim(3);
        using var tokens = ops.Contiguous(x.Permute(0, 2, 3, 1));
        using var y = ApplyTokens(ops, tokens.Reshape(b, h * w, InChannels), h, w);
        return ops.Contiguous(y.Reshape(b, h, w, OutChannels).Permute(0, 3, 1, 2));
    }

    /// <summary>SiLU(conv_inverted(x)) → conv_depth → hidden·SiLU(gate), as tokens [B, N, F].</summary>
    Tensor GatedDepthwise(IOps ops, Tensor x, int gridH, int gridW)
    {
        if (x.Rank != 3 || x.Dim(1) != gridH * gridW || x.Dim(2) != InChannels)
            throw new ArgumentException($"GLUMBConv tokens must be [B, {gridH}·{gridW}, {InChannels}]; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), f = Hidden;
        using var h = _inverted.Apply(ops, x, Activation.Silu);                               // [B, N, 2F]
        var image = h.Reshape(b, gridH, gridW, 2 * f).Permute(0, 3, 1, 2);                   // [B, 2F, H, W] view
        using var d = ops.GroupedConv2d(image, _depthWeight, _depthBias, 2 * f, _kernel / 2);  // [B, 2F, H, W]
        using var gate = ops.Activate(d.Slice(1, f, f), Activation.Silu);
        using var m = ops.Mul(d.Slice(1, 0, f), gate);                                        // [B, F, H, W]
        return ops.Contiguous(m.Permute(0, 2, 3, 1)).TakeReshaped(b, gridH * gridW, f);
    }

    Tensor Finish(IOps ops, Tensor x, Tensor y)
    {
        if (_normWeight is not null)
        {
            var raw = y;
            using (raw)
            using (var n = ops.RmsNorm(raw, _normWeight, NormEps))
                y = ops.Add(n, _normBias!);
        }
        if (!_residual) return y;
        using (y) return ops.Add(y, x);
    }
}
