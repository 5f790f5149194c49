using XDit.Comm;
using XDit.Engine.PipeFusion;
using XDit.Models;
using Xunit;

namespace XDit.Tests.PipeFusion;

/// <summary>PipeFusion's stale rule for SANA, at the level of <see cref="StaleKvAttention"/>: ReLU linear attention
/// over 16 tokens in 4 patches of 4, against sums assembled by hand, and the token grid it hands a layer that mixes
/// neighbouring rows, on one rank and with Ulysses and/or Ring inside the stage (each patch in sp strips). A patch
/// attending its own sums only (the other patches' contribution dropped) is 1.6 relative off.</summary>
public class StaleLinearSumsTests
{
    const int B = 2, S = 16, H = 4, D = 8, M = 4, P = S / M, C = 6;

    static float[] Rand(int seed, int width = H * D) => Numerics.Random(B * S * width, seed);

    /// <summary>Tokens [start, start + count) of a [B, S, width] array.</summary>
    static float[] Rows(float[] x, int start, int count, int width = H * D)
    {
        var r = new float[B * count * width];
        for (int b = 0; b < B; b++) Array.Copy(x, (b * S + start) * width, r, b * count * width, count * width);
        return r;
    }

    /// <summary>Tokens of patches 0..p from <paramref name="fresh"/>, the rest from <paramref name="stale"/>.</summary>
    static float[] Mix(float[] fresh, float[] stale, int p, int width = H * D)
    {
        var r = (float[])stale.Clone();
        int n = (p + 1) * P * width;
        for (int b = 0; b < B; b++) Array.Copy(fresh, b * S * width, r, b * S * width, n);
        return r;
    }

    /// <summary>out_i = Σ_j v_j·(relu k_j · relu q_i) / (Σ_j relu k_j · relu q_i + 1e-15), in doubles, over all S keys.</summary>
    static float[] Reference(float[] q, int nq, float[] k, float[] v)
    {
        var o = new float[B * nq * H * D];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < nq; i++)
                {
                    var num = new double[D];
                    double den = 0;
                    for (int j = 0; j < S; j++)
                    {
                        double w = 0;
                        for (int d = 0; d < D; d++)
                            w += Math.Max(0, k[((b * S + j) * H + h) * D + d]) * (double)Math.Max(0, q[((b * nq + i) * H + h) * D + d]);
                        den += w;
                        for (int e = 0; e < D; e++) num[e] += w * v[((b * S + j) * H + h) * D + e];
                    }
                    for (int e = 0; e < D; e++) o[((b * nq + i) * H + h) * D + e] = (float)(num[e] / (den + 1e-15));
                }
        return o;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    public void APatchSeesFreshSumsAndRowsOfPatchesAlreadyComputedAndStaleOnesOfTheRest(int ulysses, int ring)
    {
        var (q0, k0, v0, q1, k1, v1) = (Rand(1), Rand(2), Rand(3), Rand(4), Rand(5), Rand(6));
        var (f0, f1) = (Rand(7, C), Rand(8, C));
        int sp = ulysses * ring;
        var mesh = new DeviceMesh(sp, ulysses: ulysses, ring: ring);
        var perRank = InProcessWorld.Run(sp, comm =>
        {
            var ops = comm.Ops;
            var c = mesh.CoordOf(comm.Rank);
            int r = c.Ulysses + ulysses * c.Ring;
            using var att = new StaleKvAttention(S, mesh.Communicator(comm, MeshAxis.Ulysses), mesh.Communicator(comm, MeshAxis.Ring),
                Enumerable.Range(0, M).Select(p => (p * P, P)).ToArray());
            // this rank's strip of the call's tokens (whole image or patch), as the loop hands it
            (float[] Out, float[] Grid) Call(float[] q, float[] k, float[] v, float[] f, int start, int count)
            {
                int n = count / sp, s = start + r * n;
                using var tq = ops.FromHost(Rows(q, s, n), B, n, H, D);
                using var tk = ops.FromHost(Rows(k, s, n), B, n, H, D);
                using var tv = ops.FromHost(Rows(v, s, n), B, n, H, D);
                using var o = att.Run(ops, new AttentionCall { Layer = "attn1", Kind = AttentionKind.Linear, Q = tq, K = tk, V = tv }).Output;
                using var tf = ops.FromHost(Rows(f, s, n, C), B, n, C);
                using var grid = att.GatherTokens(ops, tf, "ff");
                return (ops.ToHost(o), ops.ToHost(grid));
            }
            att.SetFull();
            var full = Call(q0, k0, v0, f0, 0, S);
            var outs = new (float[] Out, float[] Grid)[M];
            for (int p = 0; p < M; p++)
            {
                att.SetPatch(p * P, P);
                outs[p] = Call(q1, k1, v1, f1, p * P, P);
            }
            // per patch [B, H, D + 1, D] float32 sums, and the [B, S, C] grid
            Assert.Equal((long)M * B * H * (D + 1) * D * 4 + (long)B * S * C * 4, att.BufferBytes);
            return (Full: full, Patches: outs, Rank: r);
        });
        foreach (var (full, patches, r) in perRank)
        {
            int n = S / sp;
            Assert.True(Numerics.RelativeError(full.Out, Reference(Rows(q0, r * n, n), n, k0, v0)) < 1e-5, $"sp rank {r}: full call");
            Assert.Equal(f0, full.Grid);
            for (int p = 0; p < M; p++)
            {
                int c = P / sp, s = p * P + r * c;
                var want = Reference(Rows(q1, s, c), c, Mix(k1, k0, p), Mix(v1, v0, p));
                double err = Numerics.RelativeError(patches[p].Out, want);
                Assert.True(err < 1e-5, $"sp rank {r}, patch {p}: relative error {err:G3} against fresh sums of 0..{p} / stale ones of {p + 1}..{M - 1}");
                // and it is not what all-fresh or only-own sums give
                Assert.True(p == M - 1 || Numerics.RelativeError(patches[p].Out, Reference(Rows(q1, s, c), c, k1, v1)) > 1e-3);
                Assert.Equal(Mix(f1, f0, p, C), patches[p].Grid);
            }
        }
    }
}
