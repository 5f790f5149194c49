using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.PipeFusion;
using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Tests.PipeFusion;

namespace XDit.Tests.Robustness;

/// <summary>PipeFusion checks the latents each step as the standard loop does (issue 22, item 4): a NaN stops the
/// run at the step and patch that made it, on every rank, instead of surfacing only as the final check.</summary>
public class PipeFusionNonFiniteTests
{
    /// <summary>Runs another loop with one patch's scheduler writing a NaN into its band at one step (what an
    /// overflowing layer leaves there), and records the last step index any scheduler of this rank stepped.</summary>
    sealed class PoisonedPatch(IDenoiseLoop inner, int badStep, int badPatch) : IDenoiseLoop
    {
        public int LastStep { get; private set; } = -1;

        public void Run(IOps ops, DenoiseJob job, IProgress<PipelineProgress>? progress)
        {
            int made = 0; // PipeFusion makes one scheduler per patch, in patch order
            var poisoned = new DenoiseJob
            {
                Model = job.Model, Scheduler = job.Scheduler, Latents = job.Latents, Batch = job.Batch,
                LatentShape = job.LatentShape, Cfg = job.Cfg, BuildInputs = job.BuildInputs, Combine = job.Combine,
                ExtraGuidance = job.ExtraGuidance,
                NewScheduler = () => new Poisoning(job.NewScheduler(), made++ == badPatch ? badStep : -1, this),
            };
            inner.Run(ops, poisoned, progress);
        }

        sealed class Poisoning(IScheduler inner, int badStep, PoisonedPatch owner) : IScheduler
        {
            public string ClassName => inner.ClassName;
            public int NumInferenceSteps => inner.NumInferenceSteps;
            public float[] Timesteps => inner.Timesteps;
            public float[] Sigmas => inner.Sigmas;
            public float InitNoiseSigma => inner.InitNoiseSigma;
            public void SetTimesteps(int numInferenceSteps, double? mu = null, float[]? sigmas = null) => inner.SetTimesteps(numInferenceSteps, mu, sigmas);
            public float ModelInputScale(int stepIndex) => inner.ModelInputScale(stepIndex);
            public void Reset() => inner.Reset();

            public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
            {
                inner.Step(modelOutput, stepIndex, sample);
                owner.LastStep = Math.Max(owner.LastStep, stepIndex);
                if (stepIndex == badStep) sample[3] = float.NaN;
            }
        }
    }

    [Fact]
    public void ANonFinitePatchStopsEveryRankAtTheStepThatMadeIt()
    {
        const int Steps = 3, BadStep = 1, BadPatch = 1; // a streamed step (warmup 1), the second of two patches
        var request = PipeFusionTestKit.Request(Steps);
        var mesh = new DeviceMesh(2, pipefusion: 2);
        var errors = new Exception?[mesh.WorldSize];
        var lastStep = new int[mesh.WorldSize];
        // The bound: a rank left waiting for the failed one would end in CommTimeoutException, not the NaN's line.
        var world = new InProcessWorld(mesh.WorldSize, TimeSpan.FromSeconds(30));
        var thrown = Assert.ThrowsAny<Exception>(() => world.Run(comm =>
        {
            using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
            var loop = new PoisonedPatch(new PipeFusionLoop(mesh, comm, numPipelinePatch: 2, warmupSteps: 1), BadStep, BadPatch);
            pipeline.Loop = loop;
            try { pipeline.Generate(request); return 0; }
            catch (Exception e) { errors[comm.Rank] = e; throw; }
            finally { lastStep[comm.Rank] = loop.LastStep; }
        }));

        const string Expected = "after denoising step 2 of 3, patch 2 of 2, the latents hold NaN at index 3";
        Assert.IsType<NonFiniteException>(thrown);
        Assert.StartsWith(Expected, thrown.Message);
        for (int r = 0; r < mesh.WorldSize; r++)
        {
            var e = errors[r];
            Assert.NotNull(e);
            // the last stage found it; the first stage, waiting for the band, ends through the world's abort with it as cause
            if (r != 1) Assert.Contains("rank 1 failed: NonFiniteException: " + Expected, Assert.IsType<CommAbortedException>(e).Message);
            var nonFinite = Assert.IsType<NonFiniteException>(e as NonFiniteException ?? e.InnerException);
            Assert.StartsWith(Expected, nonFinite.Message);
        }
        Assert.IsType<NonFiniteException>(errors[1]); // the last stage is the one that steps, so the one that checks
        Assert.Equal(-1, lastStep[0]);
        Assert.Equal(BadStep, lastStep[1]); // no step ran after the one that made the NaN
    }
}
