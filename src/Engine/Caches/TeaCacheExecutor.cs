using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Caches;

/// <summary>
/// TeaCache (methods.md §5, xDiT's cache/utils.py) on one device, for any model exposing
/// <see cref="DiffusionTransformer.FirstBlockModulatedInput"/>. The indicator is block 0's modulated input m_t;
/// rel = mean|m_t − m_{t−1}| / mean|m_{t−1}| against the previous call (skipped or not), rescaled by the model
/// family's polynomial and accumulated. The first and last steps always compute (and reset the accumulator);
/// between them a step is skipped while the accumulated value stays under the threshold, and a computed step resets
/// it. Skipping replaces the whole block stack by the residual it made at the last computed step, on the image
/// stream and (as xDiT does) on the text stream of joint models. Threshold 0 never skips.
/// All rows (both guidance halves) are decided together, one decision per step, as xDiT does.
/// </summary>
public sealed class TeaCacheExecutor : IStepCache
{
    readonly IAttention _attention;
    readonly StreamResidual _blocks = new();
    float[]? _previousIndicator;
    double _accumulated;

    /// <param name="threshold">rel_l1_thresh (xDiT's example 0.12; TeaCache's FLUX script 0.6). 0 turns it off.</param>
    /// <param name="numSteps">Denoising steps of the generation (the last one always computes).</param>
    /// <param name="coefficients">Rescaling polynomial; by default the one for the model's family.</param>
    public TeaCacheExecutor(double threshold, int numSteps, TeaCacheCoefficients? coefficients = null, IAttention? attention = null)
    {
        if (!(threshold >= 0) || double.IsInfinity(threshold)) throw new ArgumentOutOfRangeException(nameof(threshold), $"the TeaCache threshold must be a finite number ≥ 0, got {threshold}");
        if (numSteps < 1) throw new ArgumentOutOfRangeException(nameof(numSteps), $"TeaCache needs the number of steps (≥ 1), got {numSteps}");
        Threshold = threshold;
        NumSteps = numSteps;
        Coefficients = coefficients;
        _attention = attention ?? LocalAttention.Instance;
    }

    public string Method => "teacache";
    public double Threshold { get; }
    public int NumSteps { get; }
    /// <summary>The polynomial given, or null to take <see cref="TeaCacheCoefficients.For"/> of the model.</summary>
    public TeaCacheCoefficients? Coefficients { get; }
    public StepCacheStats Stats { get; } = new();

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        ArgumentNullException.ThrowIfNull(model);
        if ((uint)step >= (uint)NumSteps) throw new ArgumentOutOfRangeException(nameof(step), $"step {step} outside the {NumSteps} steps TeaCache was set up for");
        if (step == 0) Reset();
        using var state = model.Embed(ops, inputs);

        float[] indicator;
        using (var m = model.FirstBlockModulatedInput(ops, state)) indicator = ops.ToHost(m);

        bool skip = false;
        double estimate = double.NaN;
        bool comparable = _previousIndicator is { } prev && prev.Length == indicator.Length && _blocks.Fits(state);
        if (step == 0 || step == NumSteps - 1 || !comparable) _accumulated = 0;
        else
        {
            estimate = (Coefficients ?? TeaCacheCoefficients.For(model)).Rescale(RelativeL1.Of(indicator, _previousIndicator!));
            _accumulated += estimate;
            if (Threshold > 0 && _accumulated < Threshold) skip = true;
            else _accumulated = 0;
        }
        _previousIndicator = indicator; // updated on every call, skipped or not

        _blocks.RunOrReuse(ops, model, state, _attention, firstBlock: 0, reuse: skip);
        Stats.Record(step, skip, estimate);

        using var tokens = model.Finish(ops, state);
        return model.Unpatchify(ops, tokens, state);
    }

    /// <summary>Forgets the indicator, the accumulator and the cached residual (a new generation).</summary>
    public void Reset()
    {
        _previousIndicator = null;
        _accumulated = 0;
        _blocks.Clear();
        Stats.Clear();
    }

    public void Dispose() => _blocks.Dispose();
}
