using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Kernels;

namespace XDit.Engine.FastAttn;

/// <summary>
/// The standard step-by-step loop with DiTFastAttn as its executor, for one device. Given a plan it follows it (the
/// plan must fit the model, the step count and the guidance); without one it calibrates: it runs the generation
/// choosing the plan step by step (<see cref="FastAttnExecutor"/>) and keeps it in <see cref="Plan"/>, so that
/// later generations follow it. The caches live for one generation.
/// </summary>
public sealed class FastAttnLoop : IDenoiseLoop
{
    /// <param name="plan">The plan to follow, or null to calibrate one with <paramref name="threshold"/>.</param>
    /// <param name="window">Band half-width of the window attention (xDiT's window_size).</param>
    /// <param name="threshold">δ of the calibration (xDiT's threshold).</param>
    /// <param name="planSource">Names the plan in error messages (its file).</param>
    public FastAttnLoop(FastAttnPlan? plan, int window, double threshold = 0.5, string planSource = "the plan")
    {
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), $"the DiTFastAttn window must be ≥ 0, got {window}");
        Plan = plan;
        Window = window;
        Threshold = threshold;
        PlanSource = planSource;
    }

    public FastAttnPlan? Plan { get; private set; }
    public int Window { get; }
    public double Threshold { get; }
    public string PlanSource { get; }
    /// <summary>The statistics of the last generation.</summary>
    public FastAttnStats? LastStats { get; private set; }

    public void Run(IOps ops, DenoiseJob job, IProgress<PipelineProgress>? progress)
    {
        int steps = job.Scheduler.Timesteps.Length, blocks = job.Model.NumBlocks;
        bool calibrate = Plan is null;
        var plan = Plan ?? new FastAttnPlan(blocks, steps);
        if (!calibrate) plan.CheckFits(blocks, steps, job.Cfg, PlanSource);
        using var attention = new FastAttention(plan, Window, job.Cfg);
        new StandardDenoiseLoop(new FastAttnExecutor(attention, calibrate ? Threshold : null)).Run(ops, job, progress);
        LastStats = attention.Stats;
        Plan = plan;
    }
}
