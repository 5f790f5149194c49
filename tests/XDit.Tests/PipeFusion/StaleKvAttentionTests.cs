using XDit.Comm;
using XDit.Engine.PipeFusion;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;
using Xunit;

namespace XDit.Tests.PipeFusion;

/// <summary>The stale K/V rule itself, on 16 tokens in 4 patches of 4, against attention over K/V assembled by
/// hand, on one rank and with Ulysses and/or Ring inside the stage.</summary>
public class StaleKvAttentionTests
{
    const int B = 2, S = 16, H = 4, D = 8, M = 4, P = S / M;

    static float[] Rand(int seed) => Numerics.Random(B * S * H * D, seed);

    /// <summary>Tokens [start, start + count) of a [B, S, H, D] array.</summary>
    static float[] Rows(float[] x, int start, int count)
    {
        var r = new float[B * count * H * D];
        int row = H * D;
        for (int b = 0; b < B; b++) Array.Copy(x, (b * S + start) * row, r, b * count * row, count * row);
        return r;
    }

    /// <summary>softmax(q kᵀ/√d) v computed here with doubles, independent of the ops under test.</summary>
    static float[] Reference(float[] q, int nq, float[] k, float[] v, int nk)
    {
        var o = new float[B * nq * H * D];
        double scale = 1 / Math.Sqrt(D);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < nq; i++)
                {
                    var s = new double[nk];
                    for (int j = 0; j < nk; j++)
                    {
                        double acc = 0;
                        for (int d = 0; d < D; d++) acc += q[((b * nq + i) * H + h) * D + d] * k[((b * nk + j) * H + h) * D + d];
                        s[j] = acc * scale;
                    }
                    double max = s.Max(), sum = s.Sum(x => Math.Exp(x - max));
                    for (int d = 0; d < D; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < nk; j++) acc += Math.Exp(s[j] - max) / sum * v[((b * nk + j) * H + h) * D + d];
                        o[((b * nq + i) * H + h) * D + d] = (float)acc;
                    }
                }
        return o;
    }

    static float[] Concat(params float[][] tokenBlocks)
    {
        // each block is [B, n_i, H, D]; concatenate along tokens
        int row = H * D;
        var counts = tokenBlocks.Select(t => t.Length / (B * row)).ToArray();
        int n = counts.Sum();
        var r = new float[B * n * row];
        for (int b = 0; b < B; b++)
        {
            int at = b * n * row;
            for (int i = 0; i < tokenBlocks.Length; i++)
            {
                Array.Copy(tokenBlocks[i], b * counts[i] * row, r, at, counts[i] * row);
                at += counts[i] * row;
            }
        }
        return r;
    }

    /// <summary>Runs step 0 (full, K0/V0) then step 1 patch by patch (K1/V1) on ulysses × ring ranks (sp rank =
    /// world rank); returns the output of every step-1 patch, its ranks' strips put together in the [B, P, H, D]
    /// layout of the whole patch.</summary>
    static float[][] StepOneOutputs(int ulysses, int ring, bool warmup)
    {
        var (q1, k0, v0, k1, v1) = (Rand(1), Rand(2), Rand(3), Rand(4), Rand(5));
        var mesh = new DeviceMesh(ulysses * ring, ulysses: ulysses, ring: ring);
        var perRank = InProcessWorld.Run(ulysses * ring, comm =>
        {
            var ops = comm.Ops;
            var uly = ulysses > 1 ? mesh.Communicator(comm, MeshAxis.Ulysses) : null;
            var rng = ring > 1 ? mesh.Communicator(comm, MeshAxis.Ring) : null;
            using var att = ring == 1 ? new StaleKvAttention(S, uly)
                : new StaleKvAttention(S, uly, rng, Enumerable.Range(0, M).Select(p => (p * P, P)).ToArray());
            int sp = ulysses * ring, r = mesh.CoordOf(comm.Rank).Sp;
            Assert.Equal(comm.Rank, r);
            AttentionResult Call(float[] q, float[] k, float[] v, int start, int count)
            {
                // This rank's strip of the call's tokens (whole patch or image), as the loop hands it.
                int c = count / sp;
                using var tq = ops.FromHost(Rows(q, start + r * c, c), B, c, H, D);
                using var tk = ops.FromHost(Rows(k, start + r * c, c), B, c, H, D);
                using var tv = ops.FromHost(Rows(v, start + r * c, c), B, c, H, D);
                return att.Run(ops, new AttentionCall { Layer = "l0", Kind = AttentionKind.Self, Q = tq, K = tk, V = tv });
            }
            if (warmup)
            {
                att.SetFull();
                Call(q1, k0, v0, 0, S).Output.Dispose();
            }
            var outs = new float[M][];
            for (int p = 0; p < M; p++)
            {
                att.SetPatch(p * P, P);
                using var o = Call(q1, k1, v1, p * P, P).Output;
                outs[p] = ops.ToHost(o);
            }
            Assert.Equal(2L * B * (S / ring) * (H / ulysses) * D * 4, att.BufferBytes);   // K and V, own ring share, own heads
            return outs;
        });
        // Reassemble the patch outputs from the ranks' strips.
        return Enumerable.Range(0, M).Select(p => Concat(perRank.Select(o => o[p]).ToArray())).ToArray();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    public void APatchSeesFreshSlicesOfPatchesAlreadyComputedAndStaleSlicesOfTheRest(int ulysses, int ring)
    {
        var (q1, k0, v0, k1, v1) = (Rand(1), Rand(2), Rand(3), Rand(4), Rand(5));
        var outs = StepOneOutputs(ulysses, ring, warmup: true);
        for (int p = 0; p < M; p++)
        {
            // keys: step-1 values for patches 0..p, step-0 values for p+1..M-1
            var k = Concat(Rows(k1, 0, (p + 1) * P), Rows(k0, (p + 1) * P, S - (p + 1) * P));
            var v = Concat(Rows(v1, 0, (p + 1) * P), Rows(v0, (p + 1) * P, S - (p + 1) * P));
            var want = Reference(Rows(q1, p * P, P), P, k, v, S);
            double err = Numerics.RelativeError(outs[p], want);
            Assert.True(err < 1e-5, $"patch {p}: relative error {err:G3} against fresh 0..{p} / stale {p + 1}..{M - 1}");
            // and it is not what all-fresh or all-stale attention gives
            Assert.True(p == M - 1 || Numerics.RelativeError(outs[p], Reference(Rows(q1, p * P, P), P, k1, v1, S)) > 1e-3);
            Assert.True(Numerics.RelativeError(outs[p], Reference(Rows(q1, p * P, P), P, k0, v0, S)) > 1e-3);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void WithoutWarmupAPatchAttendsThePrefixWrittenSoFar(int ring)
    {
        var (q1, k1, v1) = (Rand(1), Rand(4), Rand(5));
        var outs = StepOneOutputs(1, ring, warmup: false);
        for (int p = 0; p < M; p++)
        {
            int n = (p + 1) * P;
            var want = Reference(Rows(q1, p * P, P), P, Rows(k1, 0, n), Rows(v1, 0, n), n);
            Assert.True(Numerics.RelativeError(outs[p], want) < 1e-5, $"patch {p}");
        }
    }

    [Fact]
    public void CrossAttentionIsNotBufferedAndOutOfOrderPatchesBeforeAFullStepAreRefused()
    {
        using var ops = new CpuOps();
        using var att = new StaleKvAttention(S);
        using var q = ops.FromHost(Rows(Rand(1), 0, P), B, P, H, D);
        using var k = ops.FromHost(Rand(2), B, S, H, D);
        att.SetPatch(2 * P, P);
        att.Run(ops, new AttentionCall { Layer = "x", Kind = AttentionKind.Cross, Q = q, K = k, V = k }).Output.Dispose();
        Assert.Equal(0, att.BufferBytes);
        var e = Assert.Throws<InvalidOperationException>(() => att.Run(ops, new AttentionCall { Layer = "s", Kind = AttentionKind.Self, Q = q, K = q, V = q }));
        Assert.Contains("only [0, 0) were ever written", e.Message);
    }

    [Fact]
    public void WithARingThePatchesMustBeKnownAndSplitIntoRingChunks()
    {
        InProcessWorld.Run(2, comm =>
        {
            Assert.Contains("patch ranges are needed", Assert.Throws<ArgumentException>(() => new StaleKvAttention(S, null, comm, null)).Message);
            Assert.Contains("split into 2 equal ring chunks", Assert.Throws<ArgumentException>(() => new StaleKvAttention(S, null, comm, [(0, 5), (5, 11)])).Message);
            Assert.Contains("cover 8 tokens", Assert.Throws<ArgumentException>(() => new StaleKvAttention(S, null, comm, [(0, 8)])).Message);
            using var att = new StaleKvAttention(S, null, comm, [(0, 8), (8, 8)]);
            Assert.Equal(S / 2, att.ShareTokens);
            Assert.Contains("not one of the announced patches", Assert.Throws<ArgumentException>(() => att.SetPatch(0, 4)).Message);
            return 0;
        });
    }
}
