using System.CommandLine;
using System.Globalization;
using XDit.Engine.Execution;
using XDit.Engine.FastAttn;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>
/// xDiT's DiTFastAttn flags for `xdit generate`: --use-fast-attn, --n-calib, --threshold, --window-size,
/// --coco-path, --use-cache (underscores accepted, as xDiT's argparse), and --fast-attn-cache-dir for where the
/// plans go (xDiT: ./cache). Like xDiT's it runs on one device: refused with the parallel degrees, the step
/// caches and CUDA graphs.
/// </summary>
public sealed class FastAttnOptions
{
    const int DefaultCalib = 8, DefaultWindow = 64;
    const double DefaultThreshold = 0.5;

    readonly Option<bool> _use = new("--use-fast-attn", "--use_fast_attn") { Description = "DiTFastAttn: per layer and step, share the previous output, use window attention plus a cached residual, or share across the CFG halves (PixArt)" };
    readonly Option<int?> _calib = new("--n-calib", "--n_calib") { Description = $"Captions the plan is calibrated on [default: {DefaultCalib}]" };
    readonly Option<double?> _threshold = new("--threshold") { Description = $"DiTFastAttn's loss threshold δ; layer l may lose δ·(l+1)/L [default: {DefaultThreshold.ToString(CultureInfo.InvariantCulture)}]" };
    readonly Option<int?> _window = new("--window-size", "--window_size") { Description = $"Window attention half-width in tokens [default: {DefaultWindow}]" };
    readonly Option<string?> _coco = new("--coco-path", "--coco_path") { Description = "COCO captions JSON (or a text file, one caption per line) to calibrate on [default: the prompts themselves]" };
    readonly Option<bool> _useCache = new("--use-cache", "--use_cache") { Description = "Follow the saved plan of these settings when there is one instead of calibrating" };
    readonly Option<string> _cacheDir = new("--fast-attn-cache-dir") { Description = "Folder of the DiTFastAttn plans", DefaultValueFactory = _ => "cache" };

    public IEnumerable<Option> All => new Option[] { _use, _calib, _threshold, _window, _coco, _useCache, _cacheDir };

    /// <summary>The chosen settings, or null; throws on a bad value or combination before any work.</summary>
    public Choice? Read(ParseResult parse, ParallelConfig plan, StepCacheOptions.Choice? cache, bool cudaGraph)
    {
        if (!parse.GetValue(_use))
        {
            foreach (var (name, set) in new (string, bool)[]
                     {
                         ("--n-calib", parse.GetValue(_calib) is not null), ("--threshold", parse.GetValue(_threshold) is not null),
                         ("--window-size", parse.GetValue(_window) is not null), ("--coco-path", parse.GetValue(_coco) is not null),
                         ("--use-cache", parse.GetValue(_useCache)),
                     })
                if (set) throw new ArgumentException($"{name} needs --use-fast-attn");
            return null;
        }
        int calib = parse.GetValue(_calib) ?? DefaultCalib, window = parse.GetValue(_window) ?? DefaultWindow;
        double threshold = parse.GetValue(_threshold) ?? DefaultThreshold;
        if (calib < 1) throw new ArgumentException($"--n-calib must be at least 1, got {calib}");
        if (window < 0) throw new ArgumentException($"--window-size must be ≥ 0, got {window}");
        if (!(threshold >= 0) || double.IsInfinity(threshold)) throw new ArgumentException($"--threshold must be a finite number ≥ 0, got {threshold.ToString(CultureInfo.InvariantCulture)}");
        if (!plan.IsSingleRank) throw new ArgumentException("--use-fast-attn runs on one device: leave out the parallel degrees and --world-size");
        if (cache is not null) throw new ArgumentException($"--use-fast-attn and {cache.Flag} are alternatives: choose one");
        if (cudaGraph) throw new ArgumentException("--use-fast-attn and --use-cuda-graph cannot be combined: a graph replays one fixed forward, and the plan changes it step by step");
        var coco = parse.GetValue(_coco);
        if (coco is not null && !File.Exists(coco)) throw new FileNotFoundException($"{coco}: the calibration captions file (--coco-path) does not exist", coco);
        return new Choice(calib, threshold, window, coco, parse.GetValue(_useCache), parse.GetValue(_cacheDir)!);
    }

    /// <summary>The settings; <see cref="Install"/> finds or calibrates the plan and sets the pipeline's loop.</summary>
    public sealed class Choice(int nCalib, double threshold, int window, string? cocoPath, bool useCache, string cacheDir)
    {
        readonly List<string> _notes = new();
        FastAttnLoop? _loop;

        /// <summary>Loads the plan (--use-cache and a saved one) or calibrates and saves it, then makes the pipeline
        /// follow it. <paramref name="announce"/> hears what is about to happen.</summary>
        public void Install(TextToImagePipeline pipeline, GenerationRequest request, string modelDir, Action<string> announce)
        {
            int steps = request.NumInferenceSteps ?? pipeline.DefaultSteps;
            var path = FastAttnCalibration.PlanPath(cacheDir, modelDir, steps, nCalib, threshold, window);
            FastAttnPlan plan;
            if (useCache && File.Exists(path))
            {
                plan = FastAttnPlan.Load(path);
                _notes.Add($"DiTFastAttn plan read from {path}: {plan.Summary()}");
            }
            else
            {
                if (!pipeline.Denoiser.OffersSelfAttentionModules)
                    throw new NotSupportedException($"--use-fast-attn works with PixArt (as in xDiT); {modelDir} holds a {pipeline.Denoiser.GetType().Name}");
                var prompts = FastAttnCalibration.Prompts(cocoPath, nCalib, request.Prompts);
                announce($"DiTFastAttn: calibrating on {prompts.Count} caption(s), threshold {threshold.ToString(CultureInfo.InvariantCulture)}, window {window}");
                plan = FastAttnCalibration.Calibrate(pipeline, request, prompts, threshold, window);
                plan.Save(path);
                _notes.Add($"DiTFastAttn plan calibrated and saved to {path}: {plan.Summary()}");
            }
            _loop = new FastAttnLoop(plan, window, threshold, path);
            pipeline.Loop = _loop;
        }

        /// <summary>Where the plan came from, and what the generation's attention layers did.</summary>
        public IEnumerable<string> Summary()
        {
            foreach (var n in _notes) yield return n;
            if (_loop?.LastStats is { } stats) yield return $"DiTFastAttn (window {window}): {stats}";
        }
    }
}
