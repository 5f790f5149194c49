using System.CommandLine;
using System.Globalization;
using XDit.Engine.Analysis;
using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit analyze`: the redundancy study of "Unveiling Redundancy in Diffusion Transformers" (DiTCacheAnalysis) as a
/// tool. One generation per prompt and step count from the same seed; per attention layer the change of K, V and
/// the output A between consecutive steps (and the text tokens' of joint models, and each block's output); the
/// mean, standard deviation and coefficient of variation over prompts; report.json, raw.csv and the paper's plots.
/// </summary>
public static class AnalyzeCommand
{
    public static Command Create()
    {
        var prompt = new Option<string[]>("--prompt", "-p") { Description = "Text prompt (repeat for several; one generation each)", AllowMultipleArgumentsPerToken = false };
        var promptsFile = new Option<string?>("--prompts-file") { Description = "Prompts: COCO captions JSON, a JSON array of strings, or one prompt per line" };
        var numPrompts = NumberOptions.Int("--num-prompts", "Use the first N prompts of --prompts-file");
        var model = new Option<string?>("--model", "-m") { Description = "Diffusers pipeline folder [default: the demo model]" };
        var steps = new Option<string?>("--steps", "--num-inference-steps") { Description = "Denoising steps, or a sweep: 14,28,56 [default: the model's]" };
        var guidance = NumberOptions.Float("--guidance-scale", "Classifier-free guidance scale [default: the model's]");
        var height = NumberOptions.Int("--height", "Image height in pixels [default: the model's]");
        var width = NumberOptions.Int("--width", "Image width in pixels [default: the model's]");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial noise, the same for every prompt", DefaultValueFactory = _ => 42 };
        var latents = new Option<string?>("--latents") { Description = "safetensors file with the initial latents [1, C, h, w] used for every prompt (initial_latents, latents, or the first tensor)" };
        var targets = new Option<string>("--targets") { Description = "What to record: k, v, a, ek, ev, ea (text tokens of joint models), block; residual and tea_input (for the caches); or all", DefaultValueFactory = _ => string.Join(",", RecordingTarget.Default) };
        var layers = new Option<string>("--layers") { Description = "Attention layers: self (joint included; the paper's), cross, or all", DefaultValueFactory = _ => "self" };
        var metrics = new Option<string>("--metrics") { Description = "mean_abs (the paper's L1), var_abs, relative_l1, cosine, or all", DefaultValueFactory = _ => "all" };
        var cfg = new Option<string>("--cfg") { Description = "Guidance halves measured together (the paper's) or separate", DefaultValueFactory = _ => "together" };
        var rawA = new Option<bool>("--a-before-projection") { Description = "Measure A before the output projection (the engine's attention hook) instead of after it (the paper's)" };
        var outDir = new Option<string?>("--out-dir") { Description = "Folder for report.json, raw.csv and the PNG plots" };
        var output = new Option<string?>("--output", "-o") { Description = "report.json path [default: OUT_DIR/report.json, else xdit-redundancy.json]" };
        var noPlots = new Option<bool>("--no-plots") { Description = "Write no PNG plots" };
        var scheduler = new Option<string?>("--scheduler") { Description = "Another scheduler: a class (DPMSolverMultistepScheduler, DDIMScheduler, FlowMatchEulerDiscreteScheduler) over the model's own config, or a scheduler_config.json file" };
        var simulate = new Option<string?>("--simulate") { Description = "Replay step caches on the measured series: fbcache:T,teacache:T,adaptive:BUDGET,seeded:BUDGET (at the first step count; adds --targets residual,tea_input)" };
        var measure = new Option<bool>("--measure") { Description = "With --simulate: also run each policy for real on every prompt and give the compute saved and the PSNR to the uncached picture" };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing but errors" };

        var cmd = new Command("analyze", "Measure how much each attention layer's K, V and output and each block's output change between denoising steps, over prompts (redundancy analysis)");
        foreach (var o in new Option[] { prompt, promptsFile, numPrompts, model, steps, guidance, height, width, seed, latents, targets, layers, metrics, cfg, rawA, outDir, output, noPlots, scheduler, simulate, measure, device, quiet })
            cmd.Options.Add(o);

        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var prompts = Prompts(parse.GetValue(prompt) ?? [], parse.GetValue(promptsFile), parse.GetValue(numPrompts));
            var chosenMetrics = ChangeMetrics.ParseList(parse.GetValue(metrics)!);
            var policies = parse.GetValue(simulate) is { } spec ? CachePolicy.ParseList(spec) : null;
            if (parse.GetValue(measure) && policies is null) throw new ArgumentException("--measure needs --simulate POLICIES");
            var chosenTargets = RecordingTarget.ParseList(parse.GetValue(targets)!);
            if (policies is not null) chosenTargets = chosenTargets.Union([RecordingTarget.Residual, RecordingTarget.TeaInput]).ToList();
            var request = new AnalysisRequest
            {
                Prompts = prompts,
                StepCounts = StepCounts(parse.GetValue(steps)),
                GuidanceScale = parse.GetValue(guidance),
                Height = parse.GetValue(height),
                Width = parse.GetValue(width),
                Seed = parse.GetValue(seed),
                Scheduler = parse.GetValue(scheduler),
                Latents = parse.GetValue(latents) is { } lf ? ReadLatents(lf) : null,
                Recording = new RecordingOptions
                {
                    Targets = chosenTargets,
                    Layers = Choice(parse.GetValue(layers)!, "--layers", ("self", LayerSelection.Self), ("cross", LayerSelection.Cross), ("all", LayerSelection.All)),
                    Halves = Choice(parse.GetValue(cfg)!, "--cfg", ("together", HalfSelection.Together), ("separate", HalfSelection.Separate)),
                },
            };
            new GenerationRequest { Prompts = prompts, GuidanceScale = request.GuidanceScale, Height = request.Height, Width = request.Width }.Validate();

            var dir = parse.GetValue(outDir);
            if (dir is not null) Directory.CreateDirectory(dir);
            var reportPath = parse.GetValue(output) ?? (dir is null ? "xdit-redundancy.json" : Path.Combine(dir, "report.json"));
            var reportDir = Path.GetDirectoryName(Path.GetFullPath(reportPath))!;
            if (!Directory.Exists(reportDir)) throw new IOException($"{reportPath}: the folder {reportDir} does not exist");
            bool q = parse.GetValue(quiet);
            var modelDir = parse.GetValue(model) ?? DemoModel.Find();

            using var schedulerOverride = parse.GetValue(scheduler) is { } sched ? SchedulerOverride.Create(modelDir, sched) : null;
            using var pipeline = PipelineLoader.Load(schedulerOverride?.Dir ?? modelDir, new PipelineOptions { Device = parse.GetValue(device)! });
            pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
            using var projections = parse.GetValue(rawA) ? null : OutputProjections.ForPipelineFolder(pipeline.Index.Require("transformer"));
            var uncached = new List<GeneratedImage>();
            var study = RedundancyAnalysis.Run(pipeline, request, modelDir, projections, (run, result) =>
            {
                if (uncached.Count < prompts.Count) uncached.Add(result.Images[0]); // the first step count's runs come first
                if (!q) Console.Error.WriteLine($"analyze: {run.Steps} steps, prompt {run.PromptIndex + 1}/{prompts.Count} \"{run.Prompt}\" ({result.Timings.Total.TotalSeconds:F1} s)");
            });
            var report = new RedundancyReport(study, RedundancyStatistics.From(study, chosenMetrics), chosenMetrics);
            File.WriteAllText(reportPath, report.ToJson());
            var written = new List<string> { reportPath };
            if (dir is not null)
            {
                var csv = Path.Combine(dir, "raw.csv");
                using (var w = new StreamWriter(csv)) report.WriteRawCsv(w);
                written.Add(csv);
                if (!parse.GetValue(noPlots))
                {
                    try { written.AddRange(RedundancyPlots.WriteAll(report, dir)); }
                    catch (Exception e) when (RedundancyPlots.IsMissingPlotLibrary(e))
                    {
                        Console.Error.WriteLine($"xdit: warning: no PNG plots: the plotting libraries are not in this build ({e.GetBaseException().Message.Split('\n')[0].Trim()}); report.json and raw.csv are written");
                    }
                }
            }
            if (!q) Print(report, written);
            if (policies is not null)
            {
                var lines = CacheStudy.Run(pipeline, study, policies, parse.GetValue(measure) ? uncached : null, q);
                if (dir is not null)
                {
                    var path = Path.Combine(dir, "caches.txt");
                    File.WriteAllLines(path, lines);
                    if (!q) Console.WriteLine($"wrote {path}");
                }
            }
            return 0;
        }));
        return cmd;
    }

    static void Print(RedundancyReport report, List<string> written)
    {
        var study = report.Study;
        int layers = study.Runs[0].Layers.Count;
        Console.WriteLine($"{study.Request.Prompts.Count} prompts × steps {string.Join(",", study.StepCounts)}, {layers} attention layers recorded; A {(study.ProjectedOutputs ? "after" : "before")} the output projection");
        Console.WriteLine("variation across prompts (Table 2: coefficient of variation, mean over layers and transitions)");
        Console.Write(report.FormatTable2());
        var primary = report.Metrics.Contains(ChangeMetric.MeanAbs) ? ChangeMetric.MeanAbs : report.Metrics[0];
        int steps = study.StepCounts[0];
        foreach (var target in new[] { RecordingTarget.A, RecordingTarget.Block })
        {
            var table = report.FormatLayerTable(steps, target, primary);
            if (table.Length == 0) continue;
            Console.WriteLine();
            Console.Write(table);
        }
        Console.WriteLine();
        foreach (var f in written) Console.WriteLine($"wrote {f}");
    }

    static IReadOnlyList<string> Prompts(string[] given, string? file, int? count)
    {
        var list = new List<string>(given);
        if (file is not null) list.AddRange(PromptsFile.Read(file));
        if (count is { } n)
        {
            if (n < 1) throw new ArgumentException($"--num-prompts must be at least 1, got {n}");
            if (file is null) throw new ArgumentException("--num-prompts needs --prompts-file");
            list = list.Take(given.Length + n).ToList();
        }
        if (list.Count == 0) throw new ArgumentException("no prompt: pass --prompt TEXT or --prompts-file FILE");
        return list;
    }

    static IReadOnlyList<int?> StepCounts(string? text)
    {
        if (text is null) return [null];
        var list = new List<int?>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s))
                throw new ArgumentException($"--steps: '{part}' is not a whole number (expected e.g. 20 or 14,28,56)");
            if (s < 2) throw new ArgumentException($"--steps: the redundancy analysis compares consecutive steps and needs at least 2, got {s}");
            if (!list.Contains(s)) list.Add(s);
        }
        if (list.Count == 0) throw new ArgumentException("--steps: no step count given");
        return list;
    }

    static T Choice<T>(string text, string flag, params (string Name, T Value)[] choices)
    {
        foreach (var (name, value) in choices) if (name == text) return value;
        throw new ArgumentException($"{flag}: '{text}' is not one of {string.Join(", ", choices.Select(c => c.Name))}");
    }

    static float[] ReadLatents(string path)
    {
        using var src = Checkpoint.Open(path);
        string[] known = ["initial_latents", "latents"];
        var name = known.FirstOrDefault(src.Names.Contains) ?? src.Names.OrderBy(n => n, StringComparer.Ordinal).First();
        using var t = src.ReadF32(name);
        return t.ToFloatArray();
    }
}
