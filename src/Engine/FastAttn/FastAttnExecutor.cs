using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.FastAttn;

/// <summary>
/// The denoising executor of DiTFastAttn on one device: each step's forward runs with <see cref="FastAttention"/>
/// at that step. When calibrating, each step first chooses its methods greedily, as xDiT's forward pre-hook does:
/// the reference is the forward with every layer full at this step; then for each layer l in order, the first of
/// OUTPUT_SHARE, RESIDUAL_WINDOW_ATTN_CFG_SHARE, RESIDUAL_WINDOW_ATTN, FULL_ATTN_CFG_SHARE whose whole-model output
/// stays within δ·(l + 1)/L of the reference (<see cref="CompressionLoss"/>) is kept, else FULL_ATTN (layers before
/// l keep their choice, later ones are full); step 0 stays full. The trial forwards change no cache; the step's
/// real forward then runs with the chosen methods and keeps every residual and output for the steps to come.
/// </summary>
public sealed class FastAttnExecutor : IDenoiseExecutor
{
    static readonly FastAttnMethod[] Candidates =
    [
        FastAttnMethod.OutputShare,
        FastAttnMethod.ResidualWindowAttnCfgShare,
        FastAttnMethod.ResidualWindowAttn,
        FastAttnMethod.FullAttnCfgShare,
    ];

    readonly FastAttention _attention;
    readonly double? _threshold;

    /// <param name="attention">The attention whose plan is followed (and, when calibrating, filled in).</param>
    /// <param name="calibrationThreshold">δ: choose the plan while running; null follows the plan as it is.</param>
    public FastAttnExecutor(FastAttention attention, double? calibrationThreshold = null)
    {
        if (calibrationThreshold is { } t && (!(t >= 0) || double.IsInfinity(t)))
            throw new ArgumentOutOfRangeException(nameof(calibrationThreshold), $"the DiTFastAttn threshold must be a finite number ≥ 0, got {t}");
        _attention = attention;
        _threshold = calibrationThreshold;
        attention.KeepEverything = calibrationThreshold is not null;
    }

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        if (!model.OffersSelfAttentionModules)
            throw new NotSupportedException($"DiTFastAttn needs a model whose blocks hand over their self-attention modules (PixArt); {model.GetType().Name} does not");
        if (step == 0) _attention.Reset(); // a new generation: nothing cached is comparable
        _attention.Step = step;
        if (_threshold is { } delta && step > 0) Choose(ops, model, inputs, step, delta);
        return model.Forward(ops, inputs, _attention);
    }

    void Choose(IOps ops, DiffusionTransformer model, DitInputs inputs, int step, double delta)
    {
        var plan = _attention.Plan;
        int layers = model.NumBlocks;
        _attention.Trial = true;
        try
        {
            for (int l = 0; l < layers; l++) plan[l, step] = FastAttnMethod.FullAttn;
            float[] reference;
            using (var r = model.Forward(ops, inputs, _attention)) reference = ops.ToHost(r);
            for (int l = 0; l < layers; l++)
            {
                double bound = delta * (l + 1) / layers;
                var chosen = FastAttnMethod.FullAttn;
                foreach (var m in Candidates)
                {
                    if (m.Has(FastAttnMethod.CfgShare) && !_attention.Cfg) continue;
                    plan[l, step] = m;
                    double loss;
                    using (var trial = model.Forward(ops, inputs, _attention)) loss = CompressionLoss.Of(reference, ops.ToHost(trial));
                    if (loss < bound) { chosen = m; break; }
                }
                plan[l, step] = chosen;
            }
        }
        finally { _attention.Trial = false; }
    }
}
