using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Caches;

/// <summary>
/// First-Block-Cache (ParaAttention's rule, methods.md §6) on one device, for any model through the stage API.
/// Each step runs Embed and block 0, and compares block 0's image residual r1 = h1 − h0 with the r1 of the last
/// <em>fully computed</em> step: mean|prev − r1| / mean|prev| &lt; threshold → the remaining blocks are replaced by
/// the residual they made at that step (image, and text for joint models), added to block 0's output (ParaAttention's
/// form; xDiT adds it to block 0's input and so loses block 0's contribution). Otherwise every block runs and both
/// the reference r1 and the residual are refreshed. Threshold 0 never skips: the output is the plain forward's.
/// The decision is made on all rows at once (both guidance halves together), so it is one per step.
/// </summary>
public sealed class FirstBlockCacheExecutor : IStepCache
{
    readonly IAttention _attention;
    readonly StreamResidual _rest = new();
    float[]? _referenceR1;

    /// <param name="threshold">Relative-L1 threshold (ParaAttention's residual_diff_threshold; 0.08 for FLUX there,
    /// xDiT uses 0.12). 0 turns the cache off.</param>
    /// <param name="warmupSteps">Steps from the start that always compute.</param>
    /// <param name="attention">The attention every block runs with (plain local attention by default).</param>
    public FirstBlockCacheExecutor(double threshold, int warmupSteps = 0, IAttention? attention = null)
    {
        if (!(threshold >= 0) || double.IsInfinity(threshold)) throw new ArgumentOutOfRangeException(nameof(threshold), $"the first-block cache threshold must be a finite number ≥ 0, got {threshold}");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), $"warm-up steps must be ≥ 0, got {warmupSteps}");
        Threshold = threshold;
        WarmupSteps = warmupSteps;
        _attention = attention ?? LocalAttention.Instance;
    }

    public string Method => "fbcache";
    public double Threshold { get; }
    public int WarmupSteps { get; }
    public StepCacheStats Stats { get; } = new();

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (step == 0) Reset(); // a new generation: nothing from the last one is comparable
        using var state = model.Embed(ops, inputs);

        float[] r1;
        using (var h0 = StreamResidual.Take(ops, state))
        {
            model.RunBlock(ops, 0, state, _attention);
            using var diff = StreamResidual.Difference(ops, state.Image, h0.Image);
            r1 = ops.ToHost(diff);
        }

        double change = double.NaN;
        bool skip = false;
        if (Threshold > 0 && step >= WarmupSteps && _referenceR1 is { } prev && prev.Length == r1.Length && _rest.Fits(state))
        {
            change = RelativeL1.Of(r1, prev); // mean|r1 − prev| / mean|prev|
            skip = change < Threshold;
        }

        if (!skip) _referenceR1 = r1;
        _rest.RunOrReuse(ops, model, state, _attention, firstBlock: 1, reuse: skip);
        Stats.Record(step, skip, change);

        using var tokens = model.Finish(ops, state);
        return model.Unpatchify(ops, tokens, state);
    }

    /// <summary>Forgets the reference and the cached residual (a new generation).</summary>
    public void Reset()
    {
        _referenceR1 = null;
        _rest.Clear();
        Stats.Clear();
    }

    public void Dispose() => _rest.Dispose();
}
