using System.CommandLine;
using System.Text.Json;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Cli.Commands;

/// <summary>`xdit generate`: text to image with any supported diffusers pipeline folder (the demo model by default).</summary>
public static partial class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Option<string[]>("--prompt", "-p") { Description = "Text prompt (repeat for several images)", Required = true, AllowMultipleArgumentsPerToken = false };
        var negative = new Option<string?>("--negative-prompt") { Description = "Negative prompt for classifier-free guidance (Flux, Qwen-Image: for --true-cfg-scale)" };
        var steps = NumberOptions.Int("--num-inference-steps", "Denoising steps [default: the model's]", "--steps");
        var guidance = NumberOptions.Float("--guidance-scale", "Classifier-free guidance scale [default: the model's]");
        var height = NumberOptions.Int("--height", "Image height in pixels [default: the model's]");
        var width = NumberOptions.Int("--width", "Image width in pixels [default: the model's]");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial noise", DefaultValueFactory = _ => 42 };
        var perPrompt = new Option<int>("--num-images-per-prompt") { Description = "Images per prompt", DefaultValueFactory = _ => 1 };
        var maxLen = NumberOptions.Int("--max-sequence-length", "Text tokens kept per prompt [default: the model's]");
        var model = new Option<string?>("--model", "-m") { Description = "Diffusers pipeline folder [default: the demo model]" };
        var output = new Option<string>("--output", "-o") { Description = "PNG file to write (several images get _0, _1, ... before .png); video pipelines: .mp4, .gif or a folder of PNG frames (xdit-output.mp4 when not given and ffmpeg is on PATH, else xdit-output.gif)", DefaultValueFactory = _ => "xdit-output.png" };
        var numFrames = NumberOptions.Int("--num-frames", "Video pipelines (CogVideoX, Latte, Wan, LTX-Video): frames per video [default: the model's]", "--num_frames");
        var fps = NumberOptions.Int("--fps", $"Video pipelines: frames per second of the written .mp4 or .gif [default: {XDit.Engine.Video.VideoOutput.DefaultFps}]");
        var dynamicCfg = new Option<bool>("--use-dynamic-cfg", "--use_dynamic_cfg") { Description = "Video pipelines (CogVideoX): a guidance scale that grows over the steps (diffusers' use_dynamic_cfg)" };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "Activation dtype: f32, bf16 or f16 [default: the backend's]" };
        var latents = new Option<string?>("--latents") { Description = "safetensors file with the initial latents [B, C, h, w] (the tensor named initial_latents, latents or a fixture's in.latents, else the first by name)" };
        var maxMemory = new Option<string?>("--max-memory") { Description = "Refuse, before any work, a run whose estimate (weights + activations) is more, e.g. 24G [default: the device's memory]" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing but errors" };
        var json = new Option<bool>("--json") { Description = "Print a machine-readable JSON summary instead of text" };

        var call = new PipelineCallOptions();
        var parallel = new ParallelOptions();
        var caches = new StepCacheOptions();
        var fastAttn = new FastAttnOptions();
        var cudaGraph = new Option<bool>("--use-cuda-graph", "--use_cuda_graph")
        {
            Description = "Replay the transformer's blocks from a CUDA graph each step (--device cuda, one GPU, no step cache)",
        };

        var attentionBackend = new AttentionBackendOption();

        var cmd = new Command("generate", "Draw images from text prompts and write PNG files");
        foreach (var o in new Option[] { prompt, negative, steps, guidance, height, width, seed, perPrompt, maxLen, model, output, numFrames, fps, dynamicCfg, device, dtype, latents, maxMemory, quiet, json, cudaGraph, attentionBackend.Option }.Concat(call.All).Concat(parallel.All).Concat(caches.All).Concat(fastAttn.All))
            cmd.Options.Add(o);

        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var latentsFile = parse.GetValue(latents) is { } lf ? LatentsFile.Read(lf) : null;
            var request = new GenerationRequest
            {
                Prompts = parse.GetValue(prompt)!,
                NegativePrompt = parse.GetValue(negative),
                NumInferenceSteps = parse.GetValue(steps),
                GuidanceScale = parse.GetValue(guidance),
                Height = parse.GetValue(height),
                Width = parse.GetValue(width),
                Seed = parse.GetValue(seed),
                NumImagesPerPrompt = parse.GetValue(perPrompt),
                MaxSequenceLength = parse.GetValue(maxLen),
                Latents = latentsFile?.Values,
                LatentsShape = latentsFile?.Shape,
                NumFrames = parse.GetValue(numFrames),
                UseDynamicCfg = parse.GetValue(dynamicCfg),
            };
            request = call.Apply(parse, request);
            request.Validate();
            var outPath = parse.GetValue(output)!;
            var modelDir = parse.GetValue(model) ?? DemoModel.Find();
            // A video pipeline takes frames and writes .mp4/.gif/frames; an image pipeline refuses the video options.
            bool video = PipelineLoader.IsVideo(modelDir);
            int? fpsValue = parse.GetValue(fps);
            if (!video && (request.NumFrames is not null || fpsValue is not null || request.UseDynamicCfg))
                throw new ArgumentException($"--num-frames, --fps and --use-dynamic-cfg are for video pipelines (CogVideoX, Latte, Wan, LTX-Video); {modelDir} holds {ModelIndex.Load(modelDir).PipelineClass}, which makes images");
            if (video)
                outPath = VideoOutputPath(parse.GetResult(output) is { Implicit: false } ? outPath : null);
            else CheckWritable(outPath);
            var options = new PipelineOptions
            {
                Device = parse.GetValue(device)!, DType = DTypeNames.Parse(parse.GetValue(dtype)), AttentionBackend = attentionBackend.Read(parse),
            };
            long? memoryLimit = parse.GetValue(maxMemory) is { } m ? XDit.Runtime.ByteSize.Parse(m, "--max-memory") : null;
            bool isQuiet = parse.GetValue(quiet), isJson = parse.GetValue(json);
            var reporter = new ProgressReporter(enabled: !isQuiet && !isJson);

            var plan = parallel.Read(parse);
            var cache = caches.Read(parse, plan); // step caches: single device or data parallel only
            var fast = fastAttn.Read(parse, plan, cache, parse.GetValue(cudaGraph)); // DiTFastAttn: single device only
            var graphLoop = parse.GetValue(cudaGraph) ? CudaGraphLoopFor(options.Device, plan, cache) : null;
            if (video)
            {
                if (fast is not null)
                    throw new ArgumentException("DiTFastAttn (--use-fast-attn) calibrates on image pipelines only: leave it out for a video pipeline (the step caches --use-teacache, --use-fbcache work)");
                var run = new VideoRun(modelDir, options, plan, request, outPath, fpsValue ?? XDit.Engine.Video.VideoOutput.DefaultFps, memoryLimit, cache, graphLoop);
                return RunVideo(run, reporter, isQuiet, isJson);
            }
            // Started by `xdit launch` (or torchrun-style variables): this process is one rank of a distributed world.
            if (XDit.Comm.Launch.DistributedEnvironment.FromEnvironment() is { } launched)
                return graphLoop is not null ? throw new ArgumentException("--use-cuda-graph runs on one GPU, not in a launched world")
                    : fast is not null ? throw new ArgumentException("--use-fast-attn runs on one device, not in a launched world")
                    : RunLaunchedRank(launched, modelDir, options, plan, request, outPath, reporter, isQuiet, isJson, cache);
            var mesh = plan.Mesh(); // refuses degrees whose product is not the world size, before any work
            GenerationResult result;
            string backend;
            IReadOnlyList<string> notes = [];
            if (plan.IsSingleRank)
            {
                using var pipeline = reporter.Stage("load", () => PipelineLoader.Load(modelDir, options));
                pipeline.Progress += (_, p) => reporter.Step(p);
                pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
                pipeline.Limits = pipeline.Limits with { MaxMemoryBytes = memoryLimit };
                cache?.Install(pipeline);
                if (graphLoop is not null) pipeline.Loop = graphLoop;
                fast?.Install(pipeline, request, modelDir, line => { if (!isQuiet && !isJson) Console.WriteLine(line); });
                result = pipeline.Generate(request);
                result = result with { Timings = result.Timings.WithFirst("load", reporter.LoadTime) };
                backend = pipeline.Ops.Name;
                notes = pipeline.Ops.FallbackNotes();
                if (graphLoop is not null)
                    notes = [.. notes, graphLoop.FallbackReason ?? $"CUDA graph: {graphLoop.Captures} capture(s), {graphLoop.Replays} of {result.Steps} steps replayed"];
            }
            else
            {
                if (!isQuiet && !isJson) Console.WriteLine($"mesh: {mesh} ({plan.WorldSize} in-process ranks)");
                var outcome = ParallelGeneration.Run(modelDir, plan, request,
                    makeOps: _ => XDit.Engine.Backends.BackendFactory.Create(options.Device, options.DType, options.AttentionBackend),
                    onRankPipeline: (pipeline, rank) =>
                    {
                        cache?.Install(pipeline);
                        pipeline.Limits = pipeline.Limits with { MaxMemoryBytes = memoryLimit };
                        if (rank != 0) return;
                        pipeline.Progress += (_, p) => reporter.Step(p);
                        pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
                    });
                result = outcome.Result;
                backend = $"{options.Device} x{plan.WorldSize}";
                if (!isQuiet && !isJson)
                {
                    Console.WriteLine($"bytes sent per rank: {string.Join(", ", outcome.BytesSentPerRank.Select(b => $"{b / 1024.0:F1} KiB"))}");
                    if (plan.PipeFusionParallelDegree > 1) Console.WriteLine($"stale K/V buffers per rank: {outcome.StaleKvBytesPerRank / 1024.0:F1} KiB");
                    Console.WriteLine($"peak activation memory per rank: {string.Join(", ", outcome.PeakBytesPerRank.Select(b => $"{b / 1024.0:F1} KiB"))}");
                }
            }
            reporter.Done();

            var files = OutputNames(outPath, result.Images.Count);
            for (int i = 0; i < files.Count; i++) result.Images[i].SavePng(files[i]);

            if (isJson) Console.WriteLine(JsonSummary(modelDir, options, plan, result, files));
            else if (!isQuiet)
            {
                Console.WriteLine($"{result.Images.Count} image(s) {result.Width}x{result.Height}, {result.Steps} steps, seed {result.Seed}, on {backend}");
                PrintStages(result);
                foreach (var note in notes) Console.WriteLine($"  note: {note}");
                if (cache is not null) foreach (var line in cache.Summary()) Console.WriteLine(line);
                if (fast is not null) foreach (var line in fast.Summary()) Console.WriteLine(line);
                foreach (var f in files) Console.WriteLine($"wrote {f}");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>The loop for --use-cuda-graph, after refusing what it cannot be combined with.</summary>
    static CudaGraphLoop CudaGraphLoopFor(string device, ParallelConfig plan, StepCacheOptions.Choice? cache)
    {
        if (!XDit.Engine.Backends.BackendFactory.IsCuda(device))
            throw new ArgumentException($"--use-cuda-graph needs --device cuda (got {device})");
        if (!plan.IsSingleRank) throw new ArgumentException("--use-cuda-graph runs on one GPU: leave out the parallel degrees");
        if (cache is not null)
            throw new ArgumentException($"--use-cuda-graph and {cache.Flag} are alternatives: a cached step skips blocks, and a graph replays them all");
        return new CudaGraphLoop();
    }

    /// <summary>One line per stage; the denoise line also gives the time per step.</summary>
    static void PrintStages(GenerationResult r)
    {
        foreach (var (stage, time) in r.Timings.Stages)
            Console.WriteLine($"  {stage,-8} {time.TotalMilliseconds,9:F1} ms" + (stage == "denoise" ? $"  ({time.TotalMilliseconds / r.Steps:F1} ms/step)" : ""));
    }

    /// <summary>Fails before any work when the output cannot be written, so a long run never ends in nothing.</summary>
    static void CheckWritable(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(dir)) throw new IOException($"{path}: the folder {dir} does not exist");
        var probe = Path.Combine(dir, $".xdit-write-test-{Environment.ProcessId}");
        try { File.WriteAllBytes(probe, Array.Empty<byte>()); File.Delete(probe); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { throw new IOException($"{path}: cannot write to {dir}: {e.Message}", e); }
        if (Directory.Exists(path)) throw new IOException($"{path}: is a folder, expected a file name");
    }

    static List<string> OutputNames(string path, int count)
    {
        if (count == 1) return new List<string> { path };
        var stem = Path.ChangeExtension(path, null);
        var ext = Path.GetExtension(path) is { Length: > 0 } e ? e : ".png";
        return Enumerable.Range(0, count).Select(i => $"{stem}_{i}{ext}").ToList();
    }

    static string JsonSummary(string modelDir, PipelineOptions options, ParallelConfig plan, GenerationResult r, List<string> files)
    {
        var stages = r.Timings.Stages.ToDictionary(s => s.Stage + "_ms", s => Math.Round(s.Time.TotalMilliseconds, 3));
        return JsonSerializer.Serialize(new
        {
            model = modelDir,
            device = options.Device,
            world_size = plan.WorldSize,
            mesh = plan.Mesh().ToString(),
            width = r.Width,
            height = r.Height,
            steps = r.Steps,
            seed = r.Seed,
            images = files,
            timings = stages,
        });
    }
}
