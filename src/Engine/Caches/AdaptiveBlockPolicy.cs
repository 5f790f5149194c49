namespace XDit.Engine.Caches;

/// <summary>
/// The decisions of the adaptive cache, apart from any tensor (so `xdit analyze --simulate` replays them on measured
/// series). Block 0 runs every step and its residual's relative change δ_t is the online redundancy signal. Each
/// later block i has a drift D_i = Σ w_i·δ since it last ran (the predicted relative change of its residual) and a
/// priority D_i·mean|r_i| (the predicted mean error of reusing its stale residual). Step 0 runs every block. The
/// budget is C = budget × steps × blocks block evaluations; each step reserves block 0 for the steps left and hands
/// the rest out in proportion to the change expected now against the change expected until the end (the seed's
/// profile when given, else the present δ held constant: an even share), then runs the blocks of highest priority.
/// w_i starts at the seed's sensitivity (else 1) and is relearned whenever block i runs: its observed change over
/// the δ summed since its last run.
/// </summary>
public sealed class AdaptiveBlockPolicy
{
    readonly double[] _drift, _weight, _magnitude, _sinceRun;
    readonly AdaptiveCacheSeed? _seed;
    int _spent;

    public AdaptiveBlockPolicy(double budget, int steps, int blocks, AdaptiveCacheSeed? seed = null)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"the adaptive cache needs the number of steps (≥ 1), got {steps}");
        if (blocks < 1) throw new ArgumentOutOfRangeException(nameof(blocks), $"the adaptive cache needs at least one block, got {blocks}");
        double least = MinimumBudget(steps, blocks);
        if (!(budget <= 1) || !(budget >= least - 1e-12))
            throw new ArgumentOutOfRangeException(nameof(budget), $"the cache budget must lie in [{least:F3}, 1] for {blocks} blocks and {steps} steps (step 0 and block 0 always run), got {budget}");
        if (seed is not null && seed.Steps != steps)
            throw new ArgumentException($"the adaptive cache's seed was measured at {seed.Steps} steps, this run has {steps}");
        Budget = budget;
        Steps = steps;
        Blocks = blocks;
        Capacity = (int)Math.Floor(budget * steps * blocks + 1e-9);
        _seed = seed;
        _drift = new double[blocks];
        _weight = Enumerable.Range(0, blocks).Select(i => seed is not null && i < seed.Sensitivity.Length && seed.Sensitivity[i] > 0 ? seed.Sensitivity[i] : 1.0).ToArray();
        _magnitude = new double[blocks];
        _sinceRun = new double[blocks];
    }

    /// <summary>The smallest budget possible: every block at step 0, block 0 at every later step.</summary>
    public static double MinimumBudget(int steps, int blocks) => (blocks + (steps - 1)) / (double)(steps * blocks);

    public double Budget { get; }
    public int Steps { get; }
    public int Blocks { get; }
    /// <summary>Block evaluations allowed in the whole run.</summary>
    public int Capacity { get; }
    /// <summary>Block evaluations made so far.</summary>
    public int Spent => _spent;

    /// <summary>Which blocks run at <paramref name="step"/> given block 0's change δ into it (ignored at step 0).
    /// Block 0 is always in the set.</summary>
    public bool[] Plan(int step, double delta)
    {
        var run = new bool[Blocks];
        run[0] = true;
        if (step == 0 || !double.IsFinite(delta))
        {
            Array.Fill(run, true);
            _spent += Blocks;
            return run;
        }
        for (int i = 1; i < Blocks; i++)
        {
            _sinceRun[i] += delta;
            _drift[i] += _weight[i] * delta;
        }
        int stepsLeft = Steps - step;                  // this one included
        int free = Math.Max(0, Capacity - _spent - stepsLeft);
        double share;
        if (_seed is not null)
        {
            double ahead = 0;
            for (int t = step; t < Steps; t++) ahead += _seed.Profile[t];
            share = ahead > 0 ? _seed.Profile[step] / ahead : 1.0 / stepsLeft;
        }
        else share = 1.0 / stepsLeft;
        int allowance = Math.Min(Math.Min(Blocks - 1, free), (int)Math.Round(free * share, MidpointRounding.AwayFromZero));
        // on the last step nothing is saved for later
        if (stepsLeft == 1) allowance = Math.Min(Blocks - 1, free);
        foreach (var i in Enumerable.Range(1, Blocks - 1).OrderByDescending(Priority).Take(allowance))
            if (Priority(i) > 0) run[i] = true;
        _spent += run.Count(r => r);
        return run;
    }

    double Priority(int i) => _drift[i] * (_magnitude[i] > 0 ? _magnitude[i] : 1);

    /// <summary>After block <paramref name="i"/> ran: its residual's mean |r| now and its relative change since it
    /// last ran (NaN at its first run). Relearns w_i and clears its drift.</summary>
    public void Ran(int i, double meanAbsResidual, double change)
    {
        _magnitude[i] = meanAbsResidual;
        if (i > 0 && double.IsFinite(change) && _sinceRun[i] > 0)
            _weight[i] = 0.5 * _weight[i] + 0.5 * (change / _sinceRun[i]);
        _drift[i] = 0;
        _sinceRun[i] = 0;
    }
}
