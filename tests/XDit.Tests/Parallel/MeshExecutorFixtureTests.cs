using System.Collections.Concurrent;
using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Kernels.Cpu;
using XDit.Runtime;

namespace XDit.Tests.Parallel;

/// <summary>
/// <see cref="MeshExecutor"/> on in-process ranks against the single-rank Forward of the same fixture model on the
/// same two-row inputs: every rank must return the whole output within 1e-5 relative error.
/// Fixture sizes (all have 2 heads, so ulysses 4 is impossible for every one of them, see the bad cases):
/// pixart_alpha 4×6 = 24 tokens, pixart_sigma 4×4 = 16, sd3/sd35 4×5 = 20, flux 20 (so sp 8 only for PixArt),
/// sana 6×8 = 48 (sp 8 too: shards of 6 tokens, under a grid row, so the Mix-FFN's band reaches into two other shards).
/// hunyuandit has 3 heads and 4×6 = 24 tokens: ulysses 3 instead of 2, and sp 8 by ring alone; its long skips
/// (block 0 → block 3) stay with each rank's token shard. hunyuandit_tiny (<see cref="TinyHunyuanDiT"/>, 4 heads,
/// 32 tokens, skips 0 → 5 and 1 → 4) adds ulysses 4 and ulysses 2 × ring 4. The video models' joint text
/// stream and per-token RoPE tables: cogvideox 3 frames × 2×3 = 18 tokens (sequence-parallel degrees 2, 3 and 6),
/// cogvideox15 2 frame groups × 2×3 = 12 tokens (with its ofs, one value for both rows); wan 3 frames × 2×3 = 18
/// tokens with per-token RoPE and cross-attention to the text (cogvideox's meshes).
/// The newer models, whose rows' text masks must follow their rows under the CFG split and whose padded text keys
/// must stay hidden whatever token shard a rank holds: hunyuanvideo (2 heads, 2 frames × 2×3 = 12 video tokens, text
/// rows keeping 8 and 5 of 8); ltx (4 heads, 3 frames × 4×6 = 72 tokens, RoPE rows all heads wide following the
/// tokens, q/k norm over all heads per token before Ulysses splits them; captions keeping 10 and 6); mochi (2 heads,
/// 12 video tokens, each head's own RoPE rows; text keeping 16 and 6); qwenimage (4 heads, 24 tokens, masks of 5 and
/// 8) and qwenimage_shapes (3 heads, 2 frames × 3×5 = 30 tokens, a hole inside a mask); zimage (x_pad rows and
/// captions replicated as joint rows) and zimage_batch (3 rows of padded captions, a rotary table per row, ring only);
/// flux2 (2 heads, its first 30 noisy + reference tokens, see <see cref="FixtureInputs"/>).
/// </summary>
public class MeshExecutorFixtureTests
{
    static readonly string[] Fixtures = ["pixart_alpha", "pixart_sigma", "sd3", "sd35", "flux", "hunyuandit", TinyHunyuanDiT.Name, "sana", "cogvideox", "cogvideox15", "wan",
        "hunyuanvideo", "ltx", "mochi", "qwenimage", "qwenimage_shapes", "zimage", "zimage_batch", "flux2"];

    /// <summary>(cfg, ulysses, ring) meshes run on every fixture without its own in <see cref="MeshesOf"/>; ulysses 2 × ring 4 (8 ranks) on PixArt only.</summary>
    static readonly (int Cfg, int Ulysses, int Ring)[] Meshes = [(2, 1, 1), (1, 2, 1), (1, 1, 2), (1, 1, 4), (1, 2, 2), (2, 2, 2)];

    /// <summary>HunyuanDiT's 3 heads: cfg, ulysses 3, ring, and their hybrids up to 8 ranks.</summary>
    static readonly (int Cfg, int Ulysses, int Ring)[] HunyuanMeshes = [(2, 1, 1), (1, 3, 1), (1, 1, 2), (1, 1, 4), (1, 3, 2), (2, 3, 1), (2, 1, 4), (1, 1, 8)];

    /// <summary>cogvideox's (and wan's) 18 tokens: degrees that divide them (ring 3, ulysses 2 × ring 3).</summary>
    static readonly (int Cfg, int Ulysses, int Ring)[] CogVideoXMeshes = [(2, 1, 1), (1, 2, 1), (1, 1, 2), (1, 1, 3), (1, 2, 3), (2, 2, 1)];

    /// <summary>Each fixture's meshes; the newer models keep the ones their own mesh tests ran, each fitting its heads
    /// and tokens (see the summary).</summary>
    static (int Cfg, int Ulysses, int Ring)[] MeshesOf(string fixture) => fixture switch
    {
        "hunyuandit" => HunyuanMeshes,
        "cogvideox" or "wan" or "flux2" => CogVideoXMeshes,
        "hunyuanvideo" => [.. CogVideoXMeshes, (2, 1, 3)],
        "ltx" => [(2, 1, 1), (1, 2, 1), (1, 4, 1), (1, 1, 3), (1, 2, 3), (2, 2, 1), (2, 1, 3)],
        "mochi" => [(2, 1, 1), (1, 2, 1), (1, 1, 3), (1, 2, 3), (2, 1, 2)],
        "qwenimage" => [(2, 1, 1), (1, 2, 1), (1, 4, 1), (1, 1, 2), (1, 1, 3), (1, 2, 2), (2, 2, 2)],
        "qwenimage_shapes" => [(1, 3, 1), (1, 1, 5), (2, 3, 1), (1, 3, 2)],
        "zimage" => [(2, 1, 1), (1, 2, 1), (1, 1, 2), (1, 1, 4), (2, 2, 2)],
        "zimage_batch" => [(1, 1, 3), (1, 1, 5)],
        _ => Meshes,
    };

    public static TheoryData<string, int, int, int> Cases()
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (var f in Fixtures)
        {
            foreach (var (c, u, r) in MeshesOf(f)) data.Add(f, c, u, r);
            if (f.StartsWith("pixart", StringComparison.Ordinal) || f == TinyHunyuanDiT.Name || f == "sana") data.Add(f, 1, 2, 4);
            if (f == TinyHunyuanDiT.Name) { data.Add(f, 1, 4, 1); data.Add(f, 2, 4, 1); }
        }
        return data;
    }

    static readonly ConcurrentDictionary<string, Lazy<(FixtureInputs Inputs, float[] Reference)>> References = new();

    static (FixtureInputs Inputs, float[] Reference) Reference(string fixture) => References.GetOrAdd(fixture, f => new(() =>
    {
        var inputs = FixtureInputs.Load(f);
        using var ops = new CpuOps();
        using var model = inputs.LoadModel(ops);
        var owned = new List<Tensor>();
        try
        {
            using var output = model.Forward(ops, inputs.Upload(ops, owned));
            return (inputs, ops.ToHost(output));
        }
        finally { foreach (var t in owned) t.Dispose(); }
    })).Value;

    sealed record RankResult(float[] Output, int[] Shape, IReadOnlyDictionary<string, long> BytesByOperation);

    [Theory, MemberData(nameof(Cases))]
    public void EveryRankReturnsTheSingleRankOutput(string fixture, int cfg, int ulysses, int ring)
    {
        var (inputs, reference) = Reference(fixture);
        int world = cfg * ulysses * ring;
        var mesh = new DeviceMesh(world, cfg: cfg, ulysses: ulysses, ring: ring);
        var results = InProcessWorld.Run(world, comm =>
        {
            var ops = comm.Ops;
            using var model = inputs.LoadModel(ops);
            var owned = new List<Tensor>();
            try
            {
                var executor = new MeshExecutor(mesh, comm);
                using var output = executor.Predict(ops, model, inputs.Upload(ops, owned), 0);
                return new RankResult(ops.ToHost(output), output.Dims, comm.Stats.BytesByOperation);
            }
            finally { foreach (var t in owned) t.Dispose(); }
        });

        double worst = 0;
        for (int r = 0; r < world; r++)
        {
            double err = Numerics.RelativeError(results[r].Output, reference);
            worst = Math.Max(worst, err);
            Assert.True(err < 1e-5, $"{fixture} on {mesh}: rank {r} relative error {err:E2}");
            Assert.Equal(inputs.Rows, results[r].Shape[0]);
            // The attention really communicated: all-to-alls under Ulysses, ring sends under Ring; SANA's linear
            // attention all-reduces its key/value sums instead (and its Mix-FFN all-gathers tokens).
            var ops = results[r].BytesByOperation;
            if (fixture == "sana") Assert.Equal(ulysses * ring > 1, ops.GetValueOrDefault("AllReduce") > 0);
            else
            {
                Assert.Equal(ulysses > 1, ops.GetValueOrDefault("AllToAll") > 0);
                Assert.Equal(ring > 1, ops.GetValueOrDefault("Send") > 0);
            }
            if (ulysses == 1 && ring == 1)
            {
                // CFG alone: exactly one all-gather of this rank's half of the output.
                long half = reference.Length / cfg * 4L;
                Assert.Equal((cfg - 1) * half, ops["AllGather"]);
            }
        }
        TestContext.Current.SendDiagnosticMessage($"{fixture} cfg {cfg} × ulysses {ulysses} × ring {ring}: worst relative error {worst:E2}");
    }

    [Fact]
    public void DataParallelGroupsRunSideBySideWithoutTalkingToEachOther()
    {
        // data 2 × cfg 2 × ring 2: each data group gets its own rows (here the fixture's rows, scaled by its data
        // rank + 1) and must return exactly its own single-rank output.
        var (inputs, _) = Reference("pixart_sigma");
        var mesh = new DeviceMesh(8, data: 2, cfg: 2, ring: 2);
        float[] ReferenceFor(int d)
        {
            using var ops = new CpuOps();
            using var model = inputs.LoadModel(ops);
            var owned = new List<Tensor>();
            try
            {
                var x = inputs.Upload(ops, owned);
                using var scaled = ops.Scale(x.HiddenStates, d + 1);
                using var output = model.Forward(ops, x with { HiddenStates = scaled });
                return ops.ToHost(output);
            }
            finally { foreach (var t in owned) t.Dispose(); }
        }
        var want = new[] { ReferenceFor(0), ReferenceFor(1) };
        var results = InProcessWorld.Run(8, comm =>
        {
            var ops = comm.Ops;
            int d = mesh.CoordOf(comm.Rank).Data;
            using var model = inputs.LoadModel(ops);
            var owned = new List<Tensor>();
            try
            {
                var x = inputs.Upload(ops, owned);
                using var scaled = ops.Scale(x.HiddenStates, d + 1);
                using var output = new MeshExecutor(mesh, comm).Predict(ops, model, x with { HiddenStates = scaled }, 0);
                return (d, ops.ToHost(output));
            }
            finally { foreach (var t in owned) t.Dispose(); }
        });
        foreach (var (d, output) in results)
        {
            double err = Numerics.RelativeError(output, want[d]);
            Assert.True(err < 1e-5, $"data group {d}: relative error {err:E2}");
        }
    }
}
