using System.Collections.Concurrent;
using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.Parallel;
using XDit.Engine.PipeFusion;
using XDit.Engine.Pipelines;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.PipeFusion;

/// <summary>Runs the demo pipeline from the reference latents on one rank or on N in-process ranks.</summary>
static class PipeFusionTestKit
{
    public sealed record Run(float[] Latents, GenerationResult Result, long StaleKvBytes, long[] BytesPerStep, long FinalBytes, PatchGeometry? Geometry);

    public static GenerationRequest Request(int steps)
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.DemoModel, "reference.safetensors"));
        var meta = JsonConfig.Load(Path.Combine(TestPaths.DemoModel, "reference.json"));
        using var latents = reference.ReadF32("initial_latents");
        return new GenerationRequest
        {
            Prompts = meta.Root.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToArray(),
            NumInferenceSteps = steps,
            GuidanceScale = (float)meta.GetDouble("guidance_scale"),
            Latents = latents.ToFloatArray(),
        };
    }

    public static Run Serial(GenerationRequest request)
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var capture = new CaptureLoop(pipeline.Loop);
        pipeline.Loop = capture;
        var result = pipeline.Generate(request);
        return new Run(capture.Latents!, result, 0, [], 0, null);
    }

    static readonly ConcurrentDictionary<int, Lazy<Run>> SerialBySteps = new();
    static readonly ConcurrentDictionary<(string Mesh, int Patches, int Warmup, int Steps), Lazy<Run[]>> PipeFusionBySetup = new();

    /// <summary>The serial run of <see cref="Request"/>(<paramref name="steps"/>), computed once per test process:
    /// several tests hold their parallel runs to the same serial baseline, and a fresh copy of it would be the same
    /// numbers again (the CPU run is deterministic). Callers only read the run.</summary>
    public static Run Serial(int steps) => SerialBySteps.GetOrAdd(steps, s => new Lazy<Run>(() => Serial(Request(s)))).Value;

    /// <summary><see cref="PipeFusion"/> on <see cref="Request"/>(<paramref name="steps"/>), computed once per test
    /// process for tests that look at the same run from different sides. Callers only read the runs.</summary>
    public static Run[] PipeFusion(DeviceMesh mesh, int patches, int warmup, int steps)
        => PipeFusionBySetup.GetOrAdd((mesh.ToString(), patches, warmup, steps), k => new Lazy<Run[]>(() => PipeFusion(mesh, patches, warmup, Request(steps)))).Value;

    /// <summary>Every rank's run of PipeFusion on <paramref name="mesh"/>.</summary>
    public static Run[] PipeFusion(DeviceMesh mesh, int patches, int warmup, GenerationRequest request)
        => InProcessWorld.Run(mesh.WorldSize, comm =>
        {
            using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
            var loop = new PipeFusionLoop(mesh, comm, patches, warmup);
            var capture = new CaptureLoop(loop);
            pipeline.Loop = capture;
            var result = pipeline.Generate(request);
            return new Run(capture.Latents!, result, loop.StaleKvBytes, loop.BytesSentPerStep.ToArray(), loop.FinalBroadcastBytes, loop.Geometry);
        });

    /// <summary>Ulysses alone (the whole model on each rank, tokens split), for the traffic comparison: bytes per
    /// rank per step.</summary>
    public static (float[] Latents, long[] BytesPerStep)[] Ulysses(int degree, GenerationRequest request)
        => InProcessWorld.Run(degree, comm =>
        {
            using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
            var loop = new UlyssesLoop(comm);
            pipeline.Loop = loop;
            pipeline.Generate(request);
            return (loop.Latents!, loop.BytesPerStep.ToArray());
        });

    public static double Psnr(GenerationResult a, GenerationResult b)
    {
        var x = a.Images.SelectMany(i => i.Pixels).ToArray();
        var y = b.Images.SelectMany(i => i.Pixels).ToArray();
        double mse = 0;
        for (int i = 0; i < x.Length; i++) mse += (double)(x[i] - y[i]) * (x[i] - y[i]);
        mse /= x.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(1.0 / mse);
    }


    /// <summary>Runs another loop and keeps a copy of the final latents.</summary>
    sealed class CaptureLoop(IDenoiseLoop inner) : IDenoiseLoop
    {
        public float[]? Latents { get; private set; }
        public void Run(IOps ops, DenoiseJob job, IProgress<PipelineProgress>? progress)
        {
            inner.Run(ops, job, progress);
            Latents = (float[])job.Latents.Clone();
        }
    }

    /// <summary>A plain Ulysses denoise loop (shard tokens after Embed, gather before Unpatchify).</summary>
    sealed class UlyssesLoop(ICommunicator comm) : IDenoiseLoop
    {
        public float[]? Latents { get; private set; }
        public List<long> BytesPerStep { get; } = new();

        public void Run(IOps ops, DenoiseJob job, IProgress<PipelineProgress>? progress)
        {
            var attention = new UlyssesAttention(comm);
            var noise = new float[job.Latents.Length];
            var shape = new[] { job.Rows }.Concat(job.LatentShape).ToArray();
            for (int i = 0; i < job.Scheduler.Timesteps.Length; i++)
            {
                long before = comm.Stats.BytesSent;
                using var x = ops.FromHost(job.Cfg ? job.Latents.Concat(job.Latents).ToArray() : job.Latents, shape);
                using var state = job.Model.Embed(ops, job.BuildInputs(ops, x, i));
                int n = state.TotalTokens / comm.Size;
                state.Shard(ops, comm.Rank * n, n);
                for (int b = 0; b < job.Model.NumBlocks; b++) job.Model.RunBlock(ops, b, state, attention);
                using var local = job.Model.Finish(ops, state);
                using var all = comm.AllGather(local, 1);
                using var output = job.Model.Unpatchify(ops, all, state);
                job.Combine(ops.ToHost(output), noise, StandardDenoiseLoop.SpatialSize(job));
                job.Scheduler.Step(noise, i, job.Latents);
                BytesPerStep.Add(comm.Stats.BytesSent - before);
            }
            Latents = (float[])job.Latents.Clone();
        }
    }
}
