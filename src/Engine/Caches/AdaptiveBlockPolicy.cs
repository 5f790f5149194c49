namespace XDit.Engine.Caches;

/// <summary>
/// The decisions of the adaptive cache, apart from any tensor (so `xdit analyze --simulate` replays them on measured
/// series). Block 0 runs every step and its residual's relative change δ_t is the online redundancy signal; step 0
/// runs every block. The budget is C = budget × steps × blocks block evaluations. Each step reserves block 0 for the
/// steps left; what remains pays for m more whole steps. The change expected until the end (the seed's profile,
/// rescaled to the change this run has shown so far; without a seed the present δ held constant) is split into m
/// equal shares, and a step runs its blocks once the change accumulated since the last whole step reaches a share
/// (TeaCache's accumulate-and-reset, with the threshold set by the budget instead of by hand); otherwise every block
/// after block 0 adds the residual it made when it last ran (FBCache's reuse). When fewer blocks than a whole step
/// are affordable, and on the last step, the blocks of highest priority run: drift D_i = Σ w_i·δ since block i last
/// ran times its mean |r_i| (the predicted error of reusing it), w_i starting at the seed's sensitivity (else 1)
/// and relearned whenever block i runs (its observed change over the δ summed since).
/// </summary>
public sealed class AdaptiveBlockPolicy
{
    readonly double[] _drift, _weight, _magnitude, _sinceRun;
    readonly AdaptiveCacheSeed? _seed;
    int _spent;
    double _accumulated, _observed, _expectedSoFar;

    public AdaptiveBlockPolicy(double budget, int steps, int blocks, AdaptiveCacheSeed? seed = null)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"the adaptive cache needs the number of steps (≥ 1), got {steps}");
        if (blocks < 1) throw new ArgumentOutOfRangeException(nameof(blocks), $"the adaptive cache needs at least one block, got {blocks}");
        double least = MinimumBudget(steps, blocks);
        if (!(budget <= 1) || !(budget >= least - 1e-12))
            throw new ArgumentException($"the cache budget must lie in [{least:F3}, 1] for {blocks} blocks and {steps} steps (step 0 and block 0 always run), got {budget}");
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
            _accumulated = 0;
            return run;
        }
        for (int i = 1; i < Blocks; i++)
        {
            _sinceRun[i] += delta;
            _drift[i] += _weight[i] * delta;
        }
        _accumulated += delta;
        _observed += delta;
        if (_seed is not null) _expectedSoFar += _seed.Profile[step];

        int stepsLeft = Steps - step;                   // this one included
        int free = Math.Max(0, Capacity - _spent - stepsLeft);
        double fullSteps = Blocks == 1 ? stepsLeft : free / (double)(Blocks - 1); // whole steps the budget still pays for
        int allowance;
        if (fullSteps >= stepsLeft) allowance = Blocks - 1;
        else
        {
            // the change expected from here to the end: the seed's profile scaled to what this run showed so far,
            // else the present change held constant
            double ahead;
            if (_seed is not null && _expectedSoFar > 0)
            {
                ahead = 0;
                for (int t = step; t < Steps; t++) ahead += _seed.Profile[t];
                ahead *= _observed / _expectedSoFar;
            }
            else ahead = delta * stepsLeft;
            // spread the whole steps left evenly over the change left: run once the change since the last whole
            // step reaches its share
            double share = fullSteps >= 1 ? ahead / fullSteps : double.PositiveInfinity;
            allowance = _accumulated > 0 && _accumulated >= share ? Math.Min(Blocks - 1, free) : 0;
            // the last step spends what is left on the blocks that drifted most
            if (stepsLeft == 1) allowance = Math.Min(Blocks - 1, free);
        }
        foreach (var i in Enumerable.Range(1, Blocks - 1).OrderByDescending(Priority).Take(allowance))
            run[i] = true;
        if (run.All(r => r)) _accumulated = 0;
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
