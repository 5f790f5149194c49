using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Caches;

/// <summary>
/// The adaptive cache on one device, for any model through the stage API: per step and per block, run the block or
/// add the residual it made when it last ran, as <see cref="AdaptiveBlockPolicy"/> decides from the redundancy
/// measured online (block 0's residual change, each block's own change when it runs), optionally seeded by a saved
/// `xdit analyze` report, under a budget of block evaluations (0.5 = at most half the block work). Budget 1 runs
/// every block: the plain forward. All rows (both guidance halves) are decided together.
/// </summary>
public sealed class AdaptiveCacheExecutor : IStepCache
{
    readonly IAttention _attention;
    readonly AdaptiveCacheSeed? _seed;
    StreamResidual[] _residuals = [];
    float[]?[] _hostResiduals = [];
    float[]? _previousR0;
    AdaptiveBlockPolicy? _policy;

    public AdaptiveCacheExecutor(double budget, int numSteps, AdaptiveCacheSeed? seed = null, IAttention? attention = null)
    {
        if (!(budget > 0 && budget <= 1)) throw new ArgumentOutOfRangeException(nameof(budget), $"the cache budget is the fraction of block work done, in (0, 1], got {budget}");
        if (numSteps < 1) throw new ArgumentOutOfRangeException(nameof(numSteps), $"the adaptive cache needs the number of steps (≥ 1), got {numSteps}");
        Budget = budget;
        NumSteps = numSteps;
        _seed = seed;
        _attention = attention ?? LocalAttention.Instance;
    }

    public string Method => "adaptive";
    public double Budget { get; }
    /// <summary>The budget (the fraction of block work allowed), shown where the other caches show a threshold.</summary>
    public double Threshold => Budget;
    public int NumSteps { get; }
    public StepCacheStats Stats { get; } = new();
    /// <summary>Per step, which blocks ran.</summary>
    public List<bool[]> Plans { get; } = new();

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        ArgumentNullException.ThrowIfNull(model);
        if ((uint)step >= (uint)NumSteps) throw new ArgumentOutOfRangeException(nameof(step), $"step {step} outside the {NumSteps} steps the adaptive cache was set up for");
        int n = model.NumBlocks;
        if (step == 0 || _policy is null || _residuals.Length != n) Reset(n);
        using var state = model.Embed(ops, inputs);

        var r0 = RunMeasured(ops, model, 0, state);
        double delta = _previousR0 is { } p && p.Length == r0.Length ? RelativeL1.Of(r0, p) : double.NaN;
        _previousR0 = r0;
        for (int i = 1; i < n; i++) if (!_residuals[i].Fits(state)) delta = double.NaN; // nothing stored fits: run all
        var plan = _policy!.Plan(step, delta);
        _policy.Ran(0, MeanAbs(r0), double.NaN);

        for (int i = 1; i < n; i++)
        {
            if (!plan[i])
            {
                _residuals[i].Apply(ops, state);
                model.BlockStoodIn(ops, i, state);   // e.g. HunyuanDiT's long skips, as if the block had run
                continue;
            }
            using var before = StreamResidual.Take(ops, state);
            var r = RunMeasured(ops, model, i, state);
            _residuals[i].Capture(ops, before, state);
            double change = _hostResiduals[i] is { } old && old.Length == r.Length ? RelativeL1.Of(r, old) : double.NaN;
            _hostResiduals[i] = r;
            _policy.Ran(i, MeanAbs(r), change);
        }
        Plans.Add(plan);
        Stats.Record(step, plan.Any(x => !x), delta);
        Stats.RecordBlocks(plan.Count(x => x), n);

        using var tokens = model.Finish(ops, state);
        return model.Unpatchify(ops, tokens, state);
    }

    /// <summary>Runs block <paramref name="i"/> and returns its image residual on the host.</summary>
    float[] RunMeasured(IOps ops, DiffusionTransformer model, int i, DitState state)
    {
        var before = ops.ToHost(state.Image);
        model.RunBlock(ops, i, state, _attention);
        var after = ops.ToHost(state.Image);
        if (after.Length != before.Length)
            throw new InvalidOperationException($"block {i} changed the image tokens' size from {before.Length} to {after.Length} values; the adaptive cache cannot stand in for it");
        for (int j = 0; j < after.Length; j++) after[j] -= before[j];
        return after;
    }

    static double MeanAbs(float[] x)
    {
        double s = 0;
        foreach (var v in x) s += Math.Abs(v);
        return x.Length == 0 ? 0 : s / x.Length;
    }

    void Reset(int blocks)
    {
        foreach (var r in _residuals) r.Dispose();
        _residuals = Enumerable.Range(0, blocks).Select(_ => new StreamResidual()).ToArray();
        _hostResiduals = new float[]?[blocks];
        _previousR0 = null;
        _policy = new AdaptiveBlockPolicy(Budget, NumSteps, blocks,
            _seed is { } s && s.Steps == NumSteps ? s : null);
        Plans.Clear();
        Stats.Clear();
    }

    public void Dispose()
    {
        foreach (var r in _residuals) r.Dispose();
        _residuals = [];
    }
}
