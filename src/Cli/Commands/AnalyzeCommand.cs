using System.CommandLine;
using XDit.Engine.Analysis;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit analyze`: the redundancy analysis of DiTCacheAnalysis (methods.md §8) on one generation: how much each
/// block's output and each attention layer's output changed from one step to the next. Prints a per-block table
/// and writes every series as JSON: the input for choosing a step-cache policy per model.
/// </summary>
public static class AnalyzeCommand
{
    public static Command Create()
    {
        var prompt = new Option<string[]>("--prompt", "-p") { Description = "Text prompt (repeat for several)", Required = true, AllowMultipleArgumentsPerToken = false };
        var model = new Option<string?>("--model", "-m") { Description = "Diffusers pipeline folder [default: the demo model]" };
        var steps = NumberOptions.Int("--num-inference-steps", "Denoising steps [default: the model's]", "--steps");
        var guidance = NumberOptions.Float("--guidance-scale", "Classifier-free guidance scale [default: the model's]");
        var height = NumberOptions.Int("--height", "Image height in pixels [default: the model's]");
        var width = NumberOptions.Int("--width", "Image width in pixels [default: the model's]");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial noise", DefaultValueFactory = _ => 42 };
        var output = new Option<string>("--output", "-o") { Description = "JSON report to write", DefaultValueFactory = _ => "xdit-redundancy.json" };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing but errors" };

        var cmd = new Command("analyze", "Measure how much each block's output changes between denoising steps (redundancy analysis)");
        foreach (var o in new Option[] { prompt, model, steps, guidance, height, width, seed, output, device, quiet })
            cmd.Options.Add(o);

        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var request = new GenerationRequest
            {
                Prompts = parse.GetValue(prompt)!,
                NumInferenceSteps = parse.GetValue(steps),
                GuidanceScale = parse.GetValue(guidance),
                Height = parse.GetValue(height),
                Width = parse.GetValue(width),
                Seed = parse.GetValue(seed),
            };
            request.Validate();
            var outPath = parse.GetValue(output)!;
            var dir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(dir)) throw new IOException($"{outPath}: the folder {dir} does not exist");
            var modelDir = parse.GetValue(model) ?? DemoModel.Find();

            using var pipeline = PipelineLoader.Load(modelDir, new PipelineOptions { Device = parse.GetValue(device)! });
            pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
            var (report, _) = RedundancyAnalysis.Run(pipeline, request, modelDir);
            File.WriteAllText(outPath, report.ToJson());
            if (!parse.GetValue(quiet))
            {
                Console.WriteLine($"relative L1 change of each block's output between steps ({report.Steps} steps, {report.Transitions} transitions, {report.AttentionLayers.Count} attention layers recorded)");
                Console.Write(report.FormatTable());
                Console.WriteLine($"wrote {outPath}");
            }
            return 0;
        }));
        return cmd;
    }
}
