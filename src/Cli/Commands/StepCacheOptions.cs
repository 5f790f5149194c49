using System.CommandLine;
using System.Globalization;
using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>
/// xDiT's step-cache flags for `xdit generate`: --use-teacache, --use-fbcache (underscores accepted, as xDiT's
/// argparse does) and --cache-threshold (xDiT hard-codes rel_l1_thresh 0.12 for both; ParaAttention calls it
/// residual_diff_threshold). The caches run on one device, so, like xDiT (which turns them off under pp, cfg or tp
/// &gt; 1), they are refused with every parallel degree but data parallelism, where each replica caches its own.
/// </summary>
public sealed class StepCacheOptions
{
    const double DefaultThreshold = 0.12;

    readonly Option<bool> _tea = new("--use-teacache", "--use_teacache") { Description = "TeaCache: skip the blocks on steps whose first-block modulated input barely changed" };
    readonly Option<bool> _fb = new("--use-fbcache", "--use_fbcache") { Description = "First-Block-Cache: skip blocks 1.. on steps whose first-block residual barely changed" };
    readonly Option<double?> _threshold = new("--cache-threshold", "--cache_threshold", "--rel-l1-thresh", "--rel_l1_thresh")
    {
        Description = $"Relative-L1 threshold of the step cache; 0 never skips [default: {DefaultThreshold.ToString(CultureInfo.InvariantCulture)}]",
    };

    // the adaptive cache (src/Engine/Caches/AdaptiveBlockPolicy.cs): per step and block under a budget of block work
    readonly Option<bool> _adaptive = new("--use-adaptive-cache", "--use_adaptive_cache") { Description = "Adaptive cache: per step and block, run or reuse from the redundancy measured while running, under --cache-budget" };
    readonly Option<double?> _budget = new("--cache-budget", "--cache_budget") { Description = "Fraction of the block work the adaptive cache may do [default: 0.5]" };
    readonly Option<string?> _seed = new("--cache-seed", "--cache_seed") { Description = "An `xdit analyze` report.json (recorded with --targets residual at the same --steps) whose residual profile steers the adaptive cache" };

    public IEnumerable<Option> All => new Option[] { _tea, _fb, _threshold, _adaptive, _budget, _seed };

    /// <summary>The chosen cache, or null; throws on a bad combination before any work.</summary>
    public Choice? Read(ParseResult parse, ParallelConfig plan)
    {
        bool tea = parse.GetValue(_tea), fb = parse.GetValue(_fb), adaptive = parse.GetValue(_adaptive);
        double? threshold = parse.GetValue(_threshold), budget = parse.GetValue(_budget);
        string? seedPath = parse.GetValue(_seed);
        if ((tea ? 1 : 0) + (fb ? 1 : 0) + (adaptive ? 1 : 0) > 1) throw new ArgumentException("--use-teacache, --use-fbcache and --use-adaptive-cache are alternatives: choose one");
        if (!adaptive && (budget is not null || seedPath is not null)) throw new ArgumentException($"{(budget is not null ? "--cache-budget" : "--cache-seed")} needs --use-adaptive-cache");
        if (adaptive && threshold is not null) throw new ArgumentException("--cache-threshold is for --use-teacache and --use-fbcache; the adaptive cache takes --cache-budget");
        if (!tea && !fb && !adaptive)
        {
            if (threshold is not null) throw new ArgumentException("--cache-threshold needs --use-teacache or --use-fbcache");
            return null;
        }
        string flag = tea ? "--use-teacache" : fb ? "--use-fbcache" : "--use-adaptive-cache";
        var t = adaptive ? budget ?? 0.5 : threshold ?? DefaultThreshold;
        if (adaptive && !(t > 0 && t <= 1)) throw new ArgumentException($"--cache-budget is the fraction of block work done, in (0, 1], got {t.ToString(CultureInfo.InvariantCulture)}");
        if (!(t >= 0) || double.IsInfinity(t)) throw new ArgumentException($"--cache-threshold must be a finite number ≥ 0, got {t.ToString(CultureInfo.InvariantCulture)}");
        if (seedPath is not null && !File.Exists(seedPath)) throw new FileNotFoundException($"--cache-seed: {seedPath} does not exist", seedPath);
        var others = new List<string>();
        if (plan.UseCfgParallel) others.Add("--use-cfg-parallel");
        if (plan.UlyssesDegree > 1) others.Add($"--ulysses-degree {plan.UlyssesDegree}");
        if (plan.RingDegree > 1) others.Add($"--ring-degree {plan.RingDegree}");
        if (plan.PipeFusionParallelDegree > 1) others.Add($"--pipefusion-parallel-degree {plan.PipeFusionParallelDegree}");
        if (others.Count > 0)
            throw new ArgumentException($"{flag} runs on one device per image and works only alone or with --data-parallel-degree, not with {string.Join(", ", others)} (as in xDiT)");
        return new Choice(flag, t, seedPath);
    }

    /// <summary>A chosen cache: installs a fresh loop into each pipeline (one per data-parallel rank).</summary>
    public sealed class Choice(string flag, double value, string? seedPath)
    {
        readonly List<StepCacheLoop> _loops = new();

        public string Flag => flag;

        public void Install(TextToImagePipeline pipeline)
        {
            var loop = flag switch
            {
                "--use-teacache" => StepCacheLoop.TeaCache(value),
                "--use-fbcache" => StepCacheLoop.FirstBlockCache(value),
                _ => StepCacheLoop.Adaptive(value, seedPath),
            };
            lock (_loops) _loops.Add(loop);
            pipeline.Loop = loop;
        }

        /// <summary>One line per pipeline that ran: method, threshold, steps computed and skipped.</summary>
        public IEnumerable<string> Summary()
        {
            lock (_loops)
                return _loops.Where(l => l.Last is not null)
                    .Select(l => $"{l.Last!.Method} ({(l.Last.Method == "adaptive" ? "budget" : "threshold")} {l.Last.Threshold.ToString(CultureInfo.InvariantCulture)}): {l.Last.Stats}").ToList();
        }
    }
}
