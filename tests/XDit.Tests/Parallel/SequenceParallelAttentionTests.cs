using XDit.Comm;
using XDit.Engine.Parallel;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Parallel;

/// <summary>
/// Sequence-parallel attention on N in-process ranks against <see cref="LocalAttention"/> on the full sequence:
/// each rank passes the contiguous image shard of its sp rank; the shards' outputs, concatenated in sp order,
/// and every rank's text rows must equal the single-rank result.
/// </summary>
public class SequenceParallelAttentionTests
{
    public enum Mode { NoJoint, JointFirst, JointLast, Cross }
    public enum Bias { None, Full, TextOnly }

    const int B = 2, PerRank = 3, T = 5, D = 8;

    public static TheoryData<int, int, Mode, Bias> Cases()
    {
        var data = new TheoryData<int, int, Mode, Bias>();
        foreach (var (u, r) in new[] { (1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (4, 1), (4, 2), (2, 4), (8, 1) })
            foreach (var mode in Enum.GetValues<Mode>())
            {
                data.Add(u, r, mode, Bias.None);
                data.Add(u, r, mode, Bias.Full);
                if (mode is Mode.JointFirst or Mode.JointLast) data.Add(u, r, mode, Bias.TextOnly);
            }
        return data;
    }

    /// <summary>Odd head counts where the Ulysses degree allows (3 heads for u = 1, else 3·u/… even multiples).</summary>
    static int HeadsFor(int u) => u == 1 ? 3 : u == 2 ? 6 : u;

    [Theory, MemberData(nameof(Cases))]
    public void MatchesSingleRankAttention(int ulysses, int ring, Mode mode, Bias bias)
    {
        int P = ulysses * ring, S = P * PerRank, H = HeadsFor(ulysses);
        bool joint = mode is Mode.JointFirst or Mode.JointLast, first = mode == Mode.JointFirst;
        int kvLen = mode == Mode.Cross ? T : S;
        var q = Numerics.Random(B * S * H * D, 1);
        var k = Numerics.Random(B * kvLen * H * D, 2);
        var v = Numerics.Random(B * kvLen * H * D, 3);
        var jq = Numerics.Random(B * T * H * D, 4);
        var jk = Numerics.Random(B * T * H * D, 5);
        var jv = Numerics.Random(B * T * H * D, 6);
        // Key bias over the single-rank key order; the image keys of shard 0 are fully masked (−∞), so a ring
        // block with no visible key (lse −∞) must merge away; text key 1 is padding (−10000, as PixArt).
        int nKeys = mode == Mode.Cross ? T : joint ? T + S : S;
        float[]? fullBias = null;
        if (bias != Bias.None)
        {
            fullBias = Numerics.Random(B * nKeys, 7, 2f);
            for (int b = 0; b < B; b++)
                for (int j = 0; j < nKeys; j++)
                {
                    bool isText = mode == Mode.Cross || (joint && (first ? j < T : j >= S));
                    int img = joint && first ? j - T : j;
                    if (bias == Bias.TextOnly && !isText) fullBias[b * nKeys + j] = 0;
                    else if (isText && (mode == Mode.Cross ? j : first ? j : j - S) == 1) fullBias[b * nKeys + j] = -10000f;
                    else if (!isText && img < PerRank && bias == Bias.Full && P > 1) fullBias[b * nKeys + j] = float.NegativeInfinity;
                }
        }

        float[] refImg; float[]? refTxt;
        using (var ops = new CpuOps())
        {
            using var tq = ops.FromHost(q, B, S, H, D);
            using var tk = ops.FromHost(k, B, kvLen, H, D);
            using var tv = ops.FromHost(v, B, kvLen, H, D);
            using var tjq = ops.FromHost(jq, B, T, H, D);
            using var tjk = ops.FromHost(jk, B, T, H, D);
            using var tjv = ops.FromHost(jv, B, T, H, D);
            using var tb = fullBias is null ? null : ops.FromHost(fullBias, B, nKeys);
            var call = new AttentionCall
            {
                Layer = "ref", Kind = mode == Mode.Cross ? AttentionKind.Cross : AttentionKind.Self,
                Q = tq, K = tk, V = tv,
                JointQ = joint ? tjq : null, JointK = joint ? tjk : null, JointV = joint ? tjv : null, JointFirst = first,
                Options = tb is null ? null : new AttentionOptions { KeyBias = tb },
            };
            var res = LocalAttention.Instance.Run(ops, call);
            refImg = ops.ToHost(res.Output);
            refTxt = res.JointOutput is null ? null : ops.ToHost(res.JointOutput);
            res.Output.Dispose(); res.JointOutput?.Dispose();
        }

        var results = InProcessWorld.Run(P, c =>
        {
            var ops = c.Ops;
            var mesh = new DeviceMesh(P, ulysses: ulysses, ring: ring);
            int sp = mesh.CoordOf(c.Rank).Sp;
            IAttention attn = (ulysses, ring) switch
            {
                ( > 1, > 1) => UspAttention.For(mesh, c),
                ( > 1, _) => new UlyssesAttention(mesh.Communicator(c, MeshAxis.Ulysses)),
                (_, > 1) => new RingAttention(mesh.Communicator(c, MeshAxis.Ring)),
                _ => UspAttention.For(mesh, c),
            };
            using var fq = ops.FromHost(q, B, S, H, D);
            using var fk = ops.FromHost(k, B, kvLen, H, D);
            using var fv = ops.FromHost(v, B, kvLen, H, D);
            using var tjq = ops.FromHost(jq, B, T, H, D);
            using var tjk = ops.FromHost(jk, B, T, H, D);
            using var tjv = ops.FromHost(jv, B, T, H, D);
            using var fb = fullBias is null ? null : ops.FromHost(fullBias, B, nKeys);
            using var lq = ops.Contiguous(fq.Slice(1, sp * PerRank, PerRank));
            using var lk = mode == Mode.Cross ? ops.Contiguous(fk) : ops.Contiguous(fk.Slice(1, sp * PerRank, PerRank));
            using var lv = mode == Mode.Cross ? ops.Contiguous(fv) : ops.Contiguous(fv.Slice(1, sp * PerRank, PerRank));
            Tensor? lb = null;
            if (fb is not null)
            {
                if (mode == Mode.Cross) lb = ops.Contiguous(fb);
                else if (!joint) lb = ops.Contiguous(fb.Slice(1, sp * PerRank, PerRank));
                else if (bias == Bias.TextOnly) lb = ops.Contiguous(fb.Slice(1, first ? 0 : S, T));
                else
                {
                    var text = fb.Slice(1, first ? 0 : S, T);
                    var img = fb.Slice(1, (first ? T : 0) + sp * PerRank, PerRank);
                    lb = first ? ops.Concat(1, text, img) : ops.Concat(1, img, text);
                }
            }
            try
            {
                var call = new AttentionCall
                {
                    Layer = "blocks.0.attn", Kind = mode == Mode.Cross ? AttentionKind.Cross : AttentionKind.Self,
                    Q = lq, K = lk, V = lv,
                    JointQ = joint ? tjq : null, JointK = joint ? tjk : null, JointV = joint ? tjv : null, JointFirst = first,
                    Options = lb is null ? null : new AttentionOptions { KeyBias = lb },
                };
                var res = attn.Run(ops, call);
                using var o = res.Output;
                using var jo = res.JointOutput;
                Assert.Equal(new[] { B, PerRank, H, D }, o.Dims);
                return (sp, ops.ToHost(o), jo is null ? null : ops.ToHost(jo));
            }
            finally { lb?.Dispose(); }
        });

        // Reassemble the image rows in sp order: [B, S, H, D] from P shards of [B, PerRank, H, D].
        var got = new float[refImg.Length];
        int row = H * D;
        foreach (var (sp, o, _) in results)
            for (int b = 0; b < B; b++)
                Array.Copy(o, b * PerRank * row, got, (b * S + sp * PerRank) * row, PerRank * row);
        double err = Numerics.RelativeError(got, refImg);
        Assert.True(err < 1e-5, $"image rows: relative error {err:E2}");
        foreach (var (sp, _, txt) in results)
        {
            if (refTxt is null) { Assert.Null(txt); continue; }
            double te = Numerics.RelativeError(txt!, refTxt);
            Assert.True(te < 1e-5, $"text rows on sp rank {sp}: relative error {te:E2}");
        }
    }

    [Fact]
    public void HeadsThatDoNotDivideTheUlyssesDegreeFailClearly()
    {
        var e = Assert.Throws<ArgumentException>(() => InProcessWorld.Run(2, c =>
        {
            using var x = c.Ops.FromHost(Numerics.Random(1 * 2 * 3 * 4, c.Rank + 1), 1, 2, 3, 4);
            var attn = new UlyssesAttention(c);
            attn.Run(c.Ops, new AttentionCall { Layer = "blocks.5.attn", Kind = AttentionKind.Self, Q = x, K = x, V = x });
            return 0;
        }));
        Assert.Contains("3 attention heads", e.Message);
        Assert.Contains("ulysses degree 2", e.Message);
        Assert.Contains("blocks.5.attn", e.Message);
    }

    [Fact]
    public void UlyssesMovesFourLocalActivationsPerLayer()
    {
        // methods.md §3: per device, q, k, v and o each move (U−1)/U of the local tensor (text adds its gather).
        int U = 4, H = 4, n = PerRank;
        var world = new InProcessWorld(U);
        world.Run(c =>
        {
            using var x = c.Ops.FromHost(Numerics.Random(B * n * H * D, c.Rank + 1), B, n, H, D);
            var res = new UlyssesAttention(c).Run(c.Ops, new AttentionCall { Layer = "l", Kind = AttentionKind.Self, Q = x, K = x, V = x });
            res.Output.Dispose();
            return 0;
        });
        long local = B * n * H * D * 4L;
        foreach (var bytes in world.BytesSentPerRank()) Assert.Equal(4 * local * (U - 1) / U, bytes);
    }
}
