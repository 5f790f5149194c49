using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>Joint attention in <see cref="LocalAttention"/>: image and text q/k/v given as adjacent rows of one
/// tensor run without a concat or split, and give what separate tensors give.</summary>
public class LocalAttentionTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AdjacentRowsOfOneTensorEqualSeparateTensors(bool jointFirst)
    {
        const int B = 2, N = 6, T = 3, H = 2, d = 8;
        using var ops = new CpuOps();
        // [B, N + T, 3, H, d]: q, k, v of every token, image rows first (or text first)
        using var all = ops.FromHost(Numerics.Random(B * (N + T) * 3 * H * d, 5), B, N + T, 3, H, d);
        int img = jointFirst ? T : 0, txt = jointFirst ? 0 : N;
        Tensor Part(int which, int at, int len) => all.Select(2, which).Slice(1, at, len);
        AttentionCall Call(Func<Tensor, Tensor> own) => new()
        {
            Layer = "l", Kind = AttentionKind.Self, JointFirst = jointFirst,
            Q = own(Part(0, img, N)), K = own(Part(1, img, N)), V = own(Part(2, img, N)),
            JointQ = own(Part(0, txt, T)), JointK = own(Part(1, txt, T)), JointV = own(Part(2, txt, T)),
        };
        var separate = LocalAttention.Instance.Run(ops, Call(ops.Contiguous));
        var joined = LocalAttention.Instance.Run(ops, Call(t => t));
        // the joined run's outputs are views of one result
        Assert.Same(joined.Output.Storage, joined.JointOutput!.Storage);
        Assert.Equal(ops.ToHost(separate.Output), ops.ToHost(joined.Output));
        Assert.Equal(ops.ToHost(separate.JointOutput!), ops.ToHost(joined.JointOutput));
        separate.Output.Dispose(); separate.JointOutput!.Dispose();
        joined.Output.Dispose(); joined.JointOutput.Dispose();
    }
}
