using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// DC-AE's EfficientViTBlock: the multi-scale ReLU linear attention with its residual
/// (<see cref="DcLinearAttention"/>), then GLUMBConv (expand 4, RMSNorm over channels, residual).
/// </summary>
public sealed class DcEfficientVitBlock : IDcLayer
{
    public DcEfficientVitBlock(WeightScope w, int channels, int headDim, int[] kernelSizes)
    {
        Name = w.Prefix;
        Attention = new DcLinearAttention(w.Pp("attn"), channels, headDim, kernelSizes);
        ConvOut = GluMbConv.Load(w.Pp("conv_out"), channels, channels, expandRatio: 4, rmsNorm: true, residual: true);
        ConvOutName = w.Name("conv_out");
    }

    public string Name { get; }
    public DcLinearAttention Attention { get; }
    public GluMbConv ConvOut { get; }
    public string ConvOutName { get; }

    public Tensor Forward(IOps ops, Tensor x, DcSpatialOps spatial)
    {
        using var a = Attention.Forward(ops, x, spatial);
        // GLUMBConv is per pixel but for its depth-wise 3×3: one halo row on each side
        return spatial.Rows(ops, a, 1, ConvOutName, t => ConvOut.ApplyImage(ops, t));
    }
}
