using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Execution;

/// <summary>
/// Everything a denoising loop needs, prepared by a pipeline: the model, the scheduler with its timesteps set,
/// the latents (host float32, updated in place), how to build the model inputs for a step, and how to turn the
/// model output into the noise prediction (classifier-free guidance and channel selection).
/// </summary>
public sealed class DenoiseJob
{
    public required DiffusionTransformer Model { get; init; }
    public required IScheduler Scheduler { get; init; }
    /// <summary>Makes a fresh scheduler of the same configuration with the same timesteps set (PipeFusion steps
    /// each patch with its own copy; the update is elementwise, so that equals one scheduler on the whole latent).</summary>
    public required Func<IScheduler> NewScheduler { get; init; }
    /// <summary>Latents [Batch, ...LatentShape] as one flat array (PixArt/SD3 [B, C, h, w]; Flux packed [B, N, 64]).</summary>
    public required float[] Latents { get; init; }
    public required int Batch { get; init; }
    /// <summary>Shape of one latent row without the batch axis.</summary>
    public required int[] LatentShape { get; init; }
    /// <summary>True when the model runs on [negative; positive] rows (2·Batch rows).</summary>
    public required bool Cfg { get; init; }
    /// <summary>Builds the model inputs for a latent tensor x of Rows rows at step index i.</summary>
    public required Func<IOps, Tensor, int, DitInputs> BuildInputs { get; init; }
    /// <summary>Turns model output rows [Rows, OutChannels, S] into the noise prediction [Batch, Channels, S] for
    /// any spatial size S (a whole latent or one patch). Arguments: output, noise, S.</summary>
    public required Action<float[], float[], int> Combine { get; init; }
    /// <summary>Guidance that needs another look at the whole latent after <see cref="Combine"/>, or null: called each
    /// step with (ops, step index, latents before the step, model output rows, noise), it may run the model again
    /// and adjusts the noise prediction in place (SD3.5's skip-layer guidance). Loops that step patches of the latent
    /// (PipeFusion) refuse a job that has it.</summary>
    public Action<IOps, int, float[], float[], float[]>? ExtraGuidance { get; init; }

    public int Rows => Cfg ? 2 * Batch : Batch;

    /// <summary>What the model reads at step i for <paramref name="latents"/> (the batch's rows, or a stand-in of
    /// their size): the rows twice under guidance ([negative; positive]), through the scheduler's
    /// scale_model_input (Euler discrete: x/√(σ² + 1); the others: x itself). May return the array given.</summary>
    public float[] ModelInput(float[] latents, int i)
    {
        var input = Cfg ? latents.Concat(latents).ToArray() : latents;
        if (Scheduler.ModelInputScale(i) == 1f) return input;
        var scaled = new float[input.Length];
        Scheduler.ScaleModelInput(input, i, scaled);
        return scaled;
    }
    public int LatentSize => (int)Shape.Product(LatentShape);
}

/// <summary>Runs the denoising loop of a job. The standard loop calls an <see cref="IDenoiseExecutor"/> once per
/// step; PipeFusion replaces the whole loop because its steps overlap.</summary>
public interface IDenoiseLoop
{
    void Run(IOps ops, DenoiseJob job, IProgress<Pipelines.PipelineProgress>? progress);
}

/// <summary>Step by step: predict on all rows, combine, scheduler step.</summary>
public sealed class StandardDenoiseLoop(IDenoiseExecutor executor) : IDenoiseLoop
{
    public IDenoiseExecutor Executor { get; } = executor;

    public void Run(IOps ops, DenoiseJob job, IProgress<Pipelines.PipelineProgress>? progress)
    {
        var timesteps = job.Scheduler.Timesteps;
        var noise = new float[job.Latents.Length];
        var rowShape = new[] { job.Rows }.Concat(job.LatentShape).ToArray();
        for (int i = 0; i < timesteps.Length; i++)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var x = ops.FromHost(job.ModelInput(job.Latents, i), rowShape);
            var inputs = job.BuildInputs(ops, x, i);
            using var output = Executor.Predict(ops, job.Model, inputs, i);
            var rows = ops.ToHost(output);
            job.Combine(rows, noise, SpatialSize(job));
            job.ExtraGuidance?.Invoke(ops, i, job.Latents, rows, noise);
            job.Scheduler.Step(noise, i, job.Latents);
            // One host pass over the latents (far below a step): a NaN stops the run at the step that made it.
            Pipelines.FiniteCheck.Require(job.Latents, $"after denoising step {i + 1} of {timesteps.Length}, the latents",
                "the transformer's output or the guidance produced it (a NaN or infinite weight, or an overflow)");
            progress?.Report(new Pipelines.PipelineProgress("denoise", i + 1, timesteps.Length, sw.Elapsed));
        }
    }

    /// <summary>Elements per channel of one latent row (h·w, or Flux's N tokens × 64 features counted as one channel).</summary>
    public static int SpatialSize(DenoiseJob job) => job.LatentShape.Length == 3 ? job.LatentShape[1] * job.LatentShape[2] : job.LatentSize;
}
