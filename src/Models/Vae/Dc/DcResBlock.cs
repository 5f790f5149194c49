using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// DC-AE's ResBlock: out = x + RMSNorm_c(conv2(act(conv1(x)))), two 3×3 convolutions at one width (conv2 without
/// bias) and the RMSNorm across channels with weight and bias.
/// </summary>
public sealed class DcResBlock : IDcLayer
{
    public DcResBlock(WeightScope w, int channels, Activation act)
    {
        Name = w.Prefix;
        Act = act;
        Conv1 = DcConv.Load(w.Pp("conv1"), channels, channels, 3);
        Conv2 = DcConv.Load(w.Pp("conv2"), channels, channels, 3, bias: false);
        Norm = ChannelRmsNorm.Load(w.Pp("norm"), channels);
    }

    public string Name { get; }
    public Activation Act { get; }
    public DcConv Conv1 { get; }
    public DcConv Conv2 { get; }
    public ChannelRmsNorm Norm { get; }

    public Tensor Forward(IOps ops, Tensor x, DcSpatialOps spatial)
    {
        Tensor h;
        using (var c1 = spatial.Conv(ops, x, Conv1)) h = ops.Activate(c1, Act);
        using (h)
        {
            using var c2 = spatial.Conv(ops, h, Conv2);
            using var n = Norm.Forward(ops, c2);
            return ops.Add(x, n);
        }
    }
}
