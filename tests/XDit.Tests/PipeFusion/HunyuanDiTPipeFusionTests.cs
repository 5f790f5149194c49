using System.Collections.Concurrent;
using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.PipeFusion;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;
using XDit.Tests.Parallel;
using Xunit;

namespace XDit.Tests.PipeFusion;

/// <summary>
/// PipeFusion on HunyuanDiT, through a denoise job made here (no HunyuanDiT pipeline yet): the model's two text rows
/// as [negative; positive] rows, guidance 4, DDIM with v-prediction, the first latent row as the start. Models: the
/// hunyuandit fixture's transformer (4 blocks, 3 heads, a 4×6 token grid: the skip 0 → 3 goes from stage 0 to the
/// last stage, past stages 1 and 2 with 4 stages) and <see cref="TinyHunyuanDiT"/> (6 blocks, 4 heads, 8×4 grid:
/// skips 0 → 5 and 1 → 4, bands that split over ulysses 2 and 4, 3 and 6 stages). Each patch carries its own skips.
/// </summary>
public class HunyuanDiTPipeFusionTests(ITestOutputHelper output)
{
    const float GuidanceScale = 4f;

    /// <summary>One rank's job: the model, the text rows uploaded to its backend, and a DDIM schedule of
    /// <paramref name="steps"/> steps. The latents start from the fixture's first hidden-states row.</summary>
    static (DenoiseJob Job, List<Tensor> Owned) Job(IOps ops, DiffusionTransformer model, string name, int steps)
    {
        var inputs = FixtureInputs.Load(name);
        var owned = new List<Tensor>();
        var text = inputs.Upload(ops, owned);
        var (hidden, shape) = inputs.Tensors["hidden_states"];
        int latentSize = shape[1] * shape[2] * shape[3];
        IScheduler NewScheduler()
        {
            var s = new DDIMScheduler(new DDIMOptions { PredictionType = "v_prediction", ClipSample = false, Training = new() { BetaSchedule = "scaled_linear", BetaStart = 0.00085, BetaEnd = 0.03 } });
            s.SetTimesteps(steps);
            return s;
        }
        var scheduler = NewScheduler();
        int spatial = shape[2] * shape[3], channels = shape[1];
        var job = new DenoiseJob
        {
            Model = model,
            Scheduler = scheduler,
            NewScheduler = NewScheduler,
            Latents = hidden[..latentSize],
            Batch = 1,
            LatentShape = shape[1..],
            Cfg = true,
            BuildInputs = (_, x, i) => text with
            {
                HiddenStates = x,
                Timestep = [scheduler.Timesteps[i], scheduler.Timesteps[i]],
            },
            // rows [negative; positive] of [2, 2·C (learn_sigma), S] → the guided first C channels [1, C, S]
            Combine = (rows, noise, s) =>
            {
                int outRow = 2 * channels * s;
                for (int c = 0; c < channels; c++)
                    for (int k = 0; k < s; k++)
                    {
                        float u = rows[c * s + k], p = rows[outRow + c * s + k];
                        noise[c * s + k] = u + GuidanceScale * (p - u);
                    }
            },
        };
        Assert.Equal(spatial * channels, latentSize);
        return (job, owned);
    }

    static readonly ConcurrentDictionary<(string Name, int Steps), Lazy<float[]>> SerialRuns = new();

    /// <summary>One rank's final latents, computed once per model and step count: the meshes of a theory are all held
    /// to the same one-rank run, which is deterministic (callers only read it).</summary>
    static float[] Serial(string name, int steps) => SerialRuns.GetOrAdd((name, steps), k => new Lazy<float[]>(() => RunSerial(k.Name, k.Steps))).Value;

    static float[] RunSerial(string name, int steps)
    {
        using var ops = new CpuOps();
        using var model = FixtureInputs.Load(name).LoadModel(ops);
        var (job, owned) = Job(ops, model, name, steps);
        try
        {
            new StandardDenoiseLoop(SingleRankExecutor.Instance).Run(ops, job, null);
            return job.Latents;
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    static float[][] PipeFusion(string name, DeviceMesh mesh, int patches, int warmup, int steps)
        => InProcessWorld.Run(mesh.WorldSize, comm =>
        {
            var ops = comm.Ops;
            using var model = FixtureInputs.Load(name).LoadModel(ops);
            var (job, owned) = Job(ops, model, name, steps);
            try
            {
                var loop = new PipeFusionLoop(mesh, comm, patches, warmup);
                loop.Run(ops, job, null);
                Assert.Equal(patches, loop.Geometry!.Count);
                return job.Latents;
            }
            finally { foreach (var t in owned) t.Dispose(); }
        });

    const string Fixture = "hunyuandit", Tiny = TinyHunyuanDiT.Name;

    [Theory]
    [InlineData(Fixture, 2, 1, 2, 1, 1, 2)]   // pp 2: the skip crosses one stage boundary
    [InlineData(Fixture, 4, 1, 4, 1, 1, 4)]   // pp 4: one block per stage, the skip goes from stage 0 to stage 3
    [InlineData(Fixture, 4, 2, 2, 1, 1, 2)]   // pp 2 × cfg 2
    [InlineData(Fixture, 4, 1, 2, 1, 2, 2)]   // pp 2 × ring 2
    [InlineData(Fixture, 8, 2, 2, 1, 2, 2)]   // pp 2 × cfg 2 × ring 2
    [InlineData(Fixture, 8, 2, 4, 1, 1, 2)]   // pp 4 × cfg 2
    [InlineData(Fixture, 8, 1, 2, 1, 4, 1)]   // pp 2 × ring 4
    [InlineData(Tiny, 3, 1, 3, 1, 1, 2)]      // pp 3: both skips from stage 0 to stage 2, past stage 1
    [InlineData(Tiny, 6, 1, 6, 1, 1, 4)]      // pp 6: skips 0 → 5 and 1 → 4, stage to stage
    [InlineData(Tiny, 4, 1, 2, 2, 1, 2)]      // pp 2 × ulysses 2
    [InlineData(Tiny, 8, 1, 2, 4, 1, 2)]      // pp 2 × ulysses 4
    [InlineData(Tiny, 8, 1, 2, 2, 2, 2)]      // pp 2 × ulysses 2 × ring 2
    [InlineData(Tiny, 8, 2, 2, 2, 1, 2)]      // pp 2 × cfg 2 × ulysses 2
    [InlineData(Tiny, 6, 2, 3, 1, 1, 2)]      // pp 3 × cfg 2
    public void WithWarmupOnEveryStepItEqualsOneRank(string model, int world, int cfg, int pipe, int ulysses, int ring, int patches)
    {
        const int steps = 3;
        var serial = Serial(model, steps);
        var mesh = new DeviceMesh(world, cfg: cfg, pipefusion: pipe, ulysses: ulysses, ring: ring);
        var runs = PipeFusion(model, mesh, patches, steps, steps);
        double worst = runs.Max(r => Numerics.RelativeError(r, serial));
        output.WriteLine($"{model} {mesh}, {patches} patches, warmup {steps} of {steps}: worst relative error {worst:E2} against one rank");
        Assert.True(worst < 1e-5, $"{model} {mesh}: relative error {worst:E2} against one rank");
    }

    [Fact]
    public void PatchesStreamedAfterOneWarmupStepStayCloseToOneRank()
    {
        // after the warm-up step each patch's attention sees the other patches' K/V of the step before (stale);
        // the long skips are the patch's own, fresh
        const int steps = 8;
        var psnr = new List<string>();
        foreach (var (model, world, pipe, ulysses, patches) in new[] { (Fixture, 2, 2, 1, 2), (Fixture, 2, 2, 1, 4), (Fixture, 4, 4, 1, 2), (Tiny, 3, 3, 1, 2), (Tiny, 4, 2, 2, 2) })
        {
            var serial = Serial(model, steps);
            var mesh = new DeviceMesh(world, pipefusion: pipe, ulysses: ulysses);
            var runs = PipeFusion(model, mesh, patches, 1, steps);
            foreach (var r in runs) Assert.Equal(runs[0], r);
            double db = Numerics.PsnrOverRange(runs[0], serial);
            psnr.Add($"{model} pp {pipe} × ulysses {ulysses}, {patches} patches: {db:F2} dB");
            Assert.True(db > 20, $"{model} {mesh}, {patches} patches, warmup 1: PSNR {db:F2} dB against one rank");
            Assert.True(Numerics.RelativeError(runs[0], serial) > 0, "streamed patches with stale K/V cannot equal one rank exactly");
        }
        output.WriteLine($"HunyuanDiT PipeFusion, warmup 1 of {steps} steps, final latents PSNR against one rank: {string.Join("; ", psnr)}");
    }
}
