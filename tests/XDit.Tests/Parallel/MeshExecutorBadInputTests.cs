using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Parallel;

/// <summary>Meshes a model cannot run on fail on every rank with the numbers, before any block runs (so no rank
/// waits for another); the row helpers refuse what does not split.</summary>
public class MeshExecutorBadInputTests
{
    /// <summary>Runs one Predict of <paramref name="fixture"/> on the mesh and returns the error all ranks agree on.</summary>
    static Exception PredictFails(string fixture, DeviceMesh mesh, int rows = 2)
    {
        var inputs = FixtureInputs.Load(fixture);
        var messages = new string?[mesh.WorldSize];
        var world = new InProcessWorld(mesh.WorldSize, TimeSpan.FromSeconds(20));
        world.Run(comm =>
        {
            using var model = inputs.LoadModel(comm.Ops);
            var owned = new List<Tensor>();
            try
            {
                var full = inputs.Upload(comm.Ops, owned);
                var given = rows == full.HiddenStates.Dim(0) ? full : DitInputRows.Slice(full, 0, rows);
                var e = Record.Exception(() => new MeshExecutor(mesh, comm).Predict(comm.Ops, model, given, 0).Dispose());
                messages[comm.Rank] = e?.Message;
                // Every rank fails by itself, not because another rank aborted the world.
                Assert.IsType<ArgumentException>(e);
                Assert.Equal(0, comm.Stats.Operations);
                return 0;
            }
            finally { foreach (var t in owned) t.Dispose(); }
        });
        Assert.All(messages, m => Assert.Equal(messages[0], m));
        return new ArgumentException(messages[0]);
    }

    [Fact]
    public void TokensThatDoNotSplitOverTheSequenceDegreeAreRefusedWithTheNumbers()
    {
        // sd3: 8×10 latent, patch 2 → 20 tokens; ring 3 would need 20 % 3 == 0.
        var e = PredictFails("sd3", new DeviceMesh(3, ring: 3));
        Assert.Contains("20 image tokens", e.Message);
        Assert.Contains("sequence-parallel degree 3", e.Message);
        Assert.Contains("SD3Transformer", e.Message);
    }

    [Fact]
    public void SequenceDegreeEightIsImpossibleForTheTwentyTokenFixtures()
    {
        var e = PredictFails("flux", new DeviceMesh(8, ulysses: 2, ring: 4));
        Assert.Contains("20 image tokens", e.Message);
        Assert.Contains("degree 8 (ulysses 2 × ring 4)", e.Message);
    }

    [Fact]
    public void HeadsThatDoNotDivideTheUlyssesDegreeAreRefusedWithTheNumbers()
    {
        // Every fixture has 2 heads: ulysses 4 is impossible.
        var e = PredictFails("pixart_sigma", new DeviceMesh(4, ulysses: 4));
        Assert.Contains("2 attention heads", e.Message);
        Assert.Contains("ulysses degree 4", e.Message);
    }

    [Fact]
    public void CfgParallelNeedsAnEvenNumberOfRows()
    {
        var e = PredictFails("sd35", new DeviceMesh(2, cfg: 2), rows: 1);
        Assert.Contains("1 batch rows", e.Message);
        Assert.Contains("cfg degree 2", e.Message);
    }

    [Fact]
    public void DegreesThatDoNotMultiplyToTheWorldSizeAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new DeviceMesh(4, cfg: 2, ulysses: 1, ring: 1));
        Assert.Contains("multiply to 2", e.Message);
        Assert.Contains("world has 4 ranks", e.Message);

        // A right mesh on a world of another size.
        var wrong = Assert.Throws<ArgumentException>(() => InProcessWorld.Run(4, comm => new MeshExecutor(new DeviceMesh(2, ulysses: 2), comm)));
        Assert.Contains("needs a world communicator of 2 ranks, got 4", wrong.Message);
    }

    [Fact]
    public void PipeFusionIsNotAPerStepExecutor()
    {
        var e = Assert.Throws<NotSupportedException>(() => InProcessWorld.Run(2, comm => new MeshExecutor(new DeviceMesh(2, pipefusion: 2), comm)));
        Assert.Contains("pipefusion 2", e.Message);
    }

    [Fact]
    public void DataParallelSplitsPromptsIntoEqualContiguousRuns()
    {
        Assert.Equal((0, 3), DataParallel.Slice(6, 2, 0));
        Assert.Equal((3, 3), DataParallel.Slice(6, 2, 1));
        Assert.Equal((4, 2), DataParallel.Slice(8, 4, 2));
        var e = Assert.Throws<ArgumentException>(() => DataParallel.Slice(3, 2, 0));
        Assert.Contains("3 prompts do not split evenly over data-parallel degree 2", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DataParallel.Slice(4, 2, 2));
    }

    [Fact]
    public void RowSlicesTakeEveryBatchedFieldAndKeepThePerTokenIds()
    {
        using var ops = new CpuOps();
        var x = Numerics.Random(4 * 3 * 2, 1);
        using var hidden = ops.FromHost(x, 4, 3, 2);
        using var text = ops.FromHost(Numerics.Random(4 * 5 * 2, 2), 4, 5, 2);
        using var mask = ops.FromHost(Numerics.Random(4 * 5, 3), 4, 5);
        using var pooled = ops.FromHost(Numerics.Random(4 * 6, 4), 4, 6);
        using var res = ops.FromHost(Numerics.Random(4 * 2, 5), 4, 2);
        using var aspect = ops.FromHost(Numerics.Random(4, 6), 4, 1);
        using var ids = ops.FromHost(Numerics.Random(3 * 3, 7), 3, 3);
        var inputs = new DitInputs
        {
            HiddenStates = hidden, EncoderHiddenStates = text, EncoderAttentionMask = mask, PooledProjections = pooled,
            Resolution = res, AspectRatio = aspect, ImgIds = ids, TxtIds = ids,
            Timestep = [10, 20, 30, 40], Guidance = [1, 2, 3, 4],
        };
        var s = DitInputRows.Slice(inputs, 2, 2);
        Assert.Equal(x[(2 * 6)..], ops.ToHost(s.HiddenStates));
        Assert.Equal(new[] { 2, 5, 2 }, s.EncoderHiddenStates.Dims);
        Assert.Equal(ops.ToHost(mask)[10..], ops.ToHost(s.EncoderAttentionMask!));
        Assert.Equal(ops.ToHost(pooled)[12..], ops.ToHost(s.PooledProjections!));
        Assert.Equal(ops.ToHost(res)[4..], ops.ToHost(s.Resolution!));
        Assert.Equal(ops.ToHost(aspect)[2..], ops.ToHost(s.AspectRatio!));
        Assert.Equal(new float[] { 30, 40 }, s.Timestep);
        Assert.Equal(new float[] { 3, 4 }, s.Guidance);
        Assert.Same(ids, s.ImgIds);
        Assert.Same(ids, s.TxtIds);

        using var shortMask = ops.FromHost(Numerics.Random(2 * 5, 3), 2, 5);
        var e = Assert.Throws<ArgumentException>(() => DitInputRows.Slice(inputs with { EncoderAttentionMask = shortMask }, 0, 2));
        Assert.Contains("EncoderAttentionMask is [2, 5] but the inputs have 4 rows", e.Message);
        var t = Assert.Throws<ArgumentException>(() => DitInputRows.Slice(inputs with { Timestep = [1] }, 0, 2));
        Assert.Contains("Timestep holds 1 values", t.Message);
    }
}
