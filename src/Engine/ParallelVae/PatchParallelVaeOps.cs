using XDit.Comm;
using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.ParallelVae;

/// <summary>
/// The VAE decoder's and encoder's spatially coupled operations when each rank of <see cref="Group"/> holds a band of rows
/// (rank order = top to bottom), as in DistVAE (methods.md §9): a k×k convolution trades k/2 halo rows with the
/// neighbours (<see cref="HaloRows"/>); a GroupNorm pools exact statistics over the group (two passes: all-reduced
/// sums give the mean, then all-reduced squared deviations from it give the biased variance, both accumulated in
/// double per rank); the mid-block attention takes its queries from the local rows and its keys and values from
/// the all-gathered sequence; upsampling is local; the encoder's stride-2 downsampler takes one row from the band
/// below (<see cref="Downsample"/>).
/// </summary>
public sealed class PatchParallelVaeOps(ICommunicator group) : VaeSpatialOps
{
    public ICommunicator Group { get; } = group;

    /// <summary>The residual is added after the halo rows are cropped off (it has the band's rows only).</summary>
    public override Tensor Conv(IOps ops, Tensor x, VaeConv conv, Tensor? residual = null)
    {
        if (Group.Size == 1) return base.Conv(ops, x, conv, residual);
        var y = HaloRows.Convolve(ops, Group, x, conv.Padding, conv.Name, wide => ops.Conv2d(wide, conv.Weight, conv.Bias, 1, conv.Padding));
        if (residual is null) return y;
        using (y) return ops.Add(y, residual);
    }

    /// <summary>The band's rows are even in number and start at an even image row (bands are cut on latent rows), so
    /// its output rows are exactly the band's share of the whole map's; the last one reads the first row of the band
    /// below, and only the last rank pads a zero row (the image's true bottom edge).</summary>
    public override Tensor Downsample(IOps ops, Tensor x, VaeConv conv)
    {
        if (Group.Size == 1) return base.Downsample(ops, x, conv);
        if (x.Dim(2) % 2 != 0)
            throw new ArgumentException($"patch-parallel VAE at {conv.Name}: rank {Group.Rank} holds {x.Dim(2)} rows, an odd count the stride-2 downsampler cannot split at");
        using var below = HaloRows.FromBelow(ops, Group, x, 1, conv.Name);
        using var padded = PadRightBottom(ops, x, below);
        return ops.Conv2d(padded, conv.Weight, conv.Bias, stride: 2, padding: 0);
    }

    /// <summary>The pooled norm, then <paramref name="act"/> as its own pass (the statistics come from the host).</summary>
    public override Tensor GroupNorm(IOps ops, Tensor x, VaeGroupNorm norm, Activation act = Activation.None)
    {
        if (Group.Size == 1) return base.GroupNorm(ops, x, norm, act);
        if (act != Activation.None)
        {
            using var n = GroupNorm(ops, x, norm);
            return ops.Activate(n, act);
        }
        int b = x.Dim(0), c = x.Dim(1), g = norm.Groups, plane = x.Dim(2) * x.Dim(3);
        if (c % g != 0) throw new ArgumentException($"patch-parallel VAE at {norm.Name}: {c} channels do not split into {g} groups");
        int cpg = c / g;
        var v = ops.ToHost(x);

        // Pass 1: sums per (batch, group) and the element count → mean.
        var sums = new float[b * g + 1];
        for (int bg = 0; bg < b * g; bg++)
        {
            double s = 0;
            foreach (var e in v.AsSpan(bg * cpg * plane, cpg * plane)) s += e;
            sums[bg] = (float)s;
        }
        sums[b * g] = cpg * plane;
        var total = AllReduce(ops, sums);
        double count = total[b * g];
        var mean = new double[b * g];
        for (int bg = 0; bg < b * g; bg++) mean[bg] = total[bg] / count;

        // Pass 2: squared deviations from the pooled mean → biased variance (no cancellation).
        var sq = new float[b * g];
        for (int bg = 0; bg < b * g; bg++)
        {
            double s = 0, m = mean[bg];
            foreach (var e in v.AsSpan(bg * cpg * plane, cpg * plane)) s += (e - m) * (e - m);
            sq[bg] = (float)s;
        }
        var varSum = AllReduce(ops, sq);

        // y = x·a + s per (batch, channel): a = γ/√(var + eps), s = β − μ·a.
        var gamma = ops.ToHost(norm.Weight);
        var beta = ops.ToHost(norm.Bias);
        var scale = new float[b * c];
        var shift = new float[b * c];
        for (int bi = 0; bi < b; bi++)
            for (int ch = 0; ch < c; ch++)
            {
                int bg = bi * g + ch / cpg;
                double a = gamma[ch] / Math.Sqrt(varSum[bg] / count + norm.Eps);
                scale[bi * c + ch] = (float)a;
                shift[bi * c + ch] = (float)(beta[ch] - mean[bg] * a);
            }
        // in x's dtype: float32 for a VAE decoded in float32 on a 16-bit device (FromHost would round them to 16 bits)
        using var ta = HostUpload.As(ops, scale, [b, c, 1, 1], x.DType);
        using var ts = HostUpload.As(ops, shift, [b, c, 1, 1], x.DType);
        using var scaled = ops.Mul(x, ta);
        return ops.Add(scaled, ts);
    }

    public override Tensor MidAttention(IOps ops, Tensor tokens, VaeAttentionBlock block)
    {
        if (Group.Size == 1) return base.MidAttention(ops, tokens, block);
        int b = tokens.Dim(0), n = tokens.Dim(1), c = block.Channels;
        using var all = Group.AllGather(tokens, 1);          // [B, N, C], rows in image order
        int total = all.Dim(1);
        using var q = block.Q.Apply(ops, tokens);
        using var k = block.K.Apply(ops, all);
        using var v = block.V.Apply(ops, all);
        using var a = ops.Attention(q.Reshape(b, n, 1, c), k.Reshape(b, total, 1, c), v.Reshape(b, total, 1, c));
        return block.Out.Apply(ops, a.Reshape(b, n, c));
    }

    float[] AllReduce(IOps ops, float[] values)
    {
        // float32 whatever the activations: sums over a group's elements overflow and lose digits in 16 bits
        using var t = HostUpload.As(ops, values, [values.Length], DType.F32);
        Group.AllReduce(t);
        return ops.ToHost(t);
    }
}
