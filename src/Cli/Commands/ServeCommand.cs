using XDit.Runtime;
using System.CommandLine;
using System.Runtime.InteropServices;
using XDit.Engine.Pipelines;
using XDit.Engine.Serving;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit serve`: loads the model once and answers POST /generate over HTTP, one generation at a time from a
/// bounded queue (xDiT's service runs one request at a time with no queue). Every request is bounded (steps,
/// pixels, images: --max-steps, --max-pixels, --max-images; a deadline: --request-timeout) and files are written
/// only under --output-dir. Ctrl-C or SIGTERM stops taking requests, cancels the one in flight after its current
/// step (it is answered 503) and exits 0.
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Diffusers pipeline folder [default: the demo model]" };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "Activation dtype: f32, bf16 or f16 [default: the backend's]" };
        var queueSize = new Option<int>("--queue-size") { Description = "Requests that may wait while one runs; more get 429", DefaultValueFactory = _ => 8 };
        var host = new Option<string>("--host") { Description = "Address to listen on (0.0.0.0 exposes the service)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on (0 picks a free one and prints it)", DefaultValueFactory = _ => 6000 };
        var maxSteps = new Option<int>("--max-steps") { Description = "Most denoising steps a request may ask for", DefaultValueFactory = _ => ServeRequest.DefaultLimits.MaxSteps };
        var maxPixels = new Option<long>("--max-pixels") { Description = "Most pixels (height x width) of one image", DefaultValueFactory = _ => ServeRequest.DefaultLimits.MaxPixels };
        var maxImages = new Option<int>("--max-images") { Description = "Most images one request may ask for", DefaultValueFactory = _ => ServeRequest.DefaultLimits.MaxImages };
        var outputDir = new Option<string?>("--output-dir") { Description = "The only folder output_type \"path\" may write under (save_disk_path is relative to it); unset: no files" };
        var requestTimeout = new Option<double>("--request-timeout") { Description = "Seconds one request may run before it is cancelled (0: no deadline)", DefaultValueFactory = _ => 600 };
        var maxConnections = new Option<int>("--max-connections") { Description = "Connections open at once; more are answered 503", DefaultValueFactory = _ => 64 };
        var maxMemory = new Option<string?>("--max-memory") { Description = "Most memory one request's estimate (weights + activations) may reach, e.g. 24G [default: the device's]" };
        var maxBody = new Option<string>("--max-body") { Description = "Largest request body, e.g. 16M: an image to edit travels base64 in /generate's (4/3 of the file), as is in /v1/images/edits's multipart body", DefaultValueFactory = _ => "1M" };
        var checkWeights = new Option<bool>("--check-weights") { Description = "Scan every weight for NaN and infinity at load (a bad one is refused by name)" };
        var parallel = new ParallelOptions();
        var attentionBackend = new AttentionBackendOption();

        var cmd = new Command("serve", "Serve text-to-image generation over HTTP (POST /generate, POST /v1/images/generations and /v1/images/edits, GET /health, GET /metrics)");
        foreach (var o in new Option[] { model, device, dtype, queueSize, host, port, maxSteps, maxPixels, maxImages, outputDir, requestTimeout, maxConnections, maxMemory, maxBody, checkWeights, attentionBackend.Option }.Concat(parallel.All))
            cmd.Options.Add(o);

        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            int size = parse.GetValue(queueSize);
            if (size < 1) throw new ArgumentException($"--queue-size must be at least 1, got {size}");
            var options = new PipelineOptions
            {
                Device = parse.GetValue(device)!, DType = DTypeNames.Parse(parse.GetValue(dtype)), AttentionBackend = attentionBackend.Read(parse),
            };
            var modelDir = parse.GetValue(model) ?? DemoModel.Find();
            var plan = parallel.Read(parse);
            ServeHttpHost.CheckAddress(parse.GetValue(host)!, parse.GetValue(port));
            plan.Mesh(); // refuses degrees whose product is not the world size, before loading anything
            var hostOptions = HostOptions(parse.GetValue(maxSteps), parse.GetValue(maxPixels), parse.GetValue(maxImages),
                parse.GetValue(outputDir), parse.GetValue(maxConnections), parse.GetValue(maxMemory), parse.GetValue(maxBody));
            double timeout = parse.GetValue(requestTimeout);
            if (!double.IsFinite(timeout) || timeout < 0 || timeout > TimeSpan.MaxValue.TotalSeconds / 2)
                throw new ArgumentException($"--request-timeout must be a number of seconds, 0 or more, got {timeout}");
            TimeSpan? deadline = timeout == 0 ? null : TimeSpan.FromSeconds(timeout);

            using var stop = new CancellationTokenSource();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });

            if (parse.GetValue(checkWeights)) XDit.Models.ModelWeights.CheckFinite = true;
            if (PipelineLoader.IsVideo(modelDir))
                throw new ArgumentException($"{modelDir} holds a video pipeline ({ModelIndex.Load(modelDir).PipelineClass}); xdit serve answers with images: write videos with xdit generate -o out.mp4|out.gif|folder");
            Console.WriteLine($"loading {modelDir} ...");
            using var generator = Load(modelDir, options, plan, hostOptions.Limits);
            return Serve(generator, size, parse.GetValue(host)!, parse.GetValue(port), stop.Token, Console.Out, hostOptions, deadline);
        }));
        return cmd;
    }

    /// <summary>The service's bounds from its flags, refused before the model loads when they make no sense.</summary>
    public static ServeHostOptions HostOptions(int maxSteps, long maxPixels, int maxImages, string? outputDir, int maxConnections, string? maxMemory = null,
        string? maxBody = null)
    {
        if (maxSteps < 1) throw new ArgumentException($"--max-steps must be at least 1, got {maxSteps}");
        if (maxPixels < 1 || maxPixels > int.MaxValue / 4) throw new ArgumentException($"--max-pixels must be between 1 and {int.MaxValue / 4}, got {maxPixels}");
        if (maxImages < 1) throw new ArgumentException($"--max-images must be at least 1, got {maxImages}");
        // A request may hold four images of the largest size, or as many smaller ones as add up to the same pixels.
        var limits = ServeRequest.DefaultLimits with
        {
            MaxSteps = maxSteps,
            MaxPixels = maxPixels,
            MaxImages = maxImages,
            MaxTotalPixels = Math.Min(int.MaxValue / 4, Math.Max(ServeRequest.DefaultLimits.MaxTotalPixels, 4 * maxPixels)),
            MaxMemoryBytes = maxMemory is null ? null : ByteSize.Parse(maxMemory, "--max-memory"),
        };
        var options = new ServeHostOptions { Limits = limits, OutputDir = outputDir, MaxConnections = maxConnections };
        if (maxBody is not null) options = options with { MaxBodyBytes = ByteSize.Parse(maxBody, "--max-body") };
        options.Validate();
        return options;
    }

    static IImageGenerator Load(string modelDir, PipelineOptions options, XDit.Engine.Execution.ParallelConfig plan, GenerationLimits limits)
    {
        var pipeline = PipelineLoader.Load(modelDir, options);
        if (plan.IsSingleRank)
        {
            pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
            return new PipelineImageGenerator(pipeline, modelDir, limits);
        }
        // The parallel path loads the ranks' pipelines per request; this load checks the model and reads its size rule.
        using (pipeline)
            return new ParallelPlanGenerator(modelDir, plan,
                _ => XDit.Engine.Backends.BackendFactory.Create(options.Device, options.DType, options.AttentionBackend), pipeline.SizeMultiple, limits);
    }

    /// <summary>
    /// Serves until <paramref name="stop"/> fires, then stops taking requests, cancels the one in flight (after its
    /// current step) and returns 0. Prints the address (with the real port) once listening.
    /// </summary>
    public static int Serve(IImageGenerator generator, int queueSize, string host, int port, CancellationToken stop, TextWriter log,
        ServeHostOptions? options = null, TimeSpan? requestDeadline = null)
    {
        using var queue = new GenerationQueue(generator, queueSize) { RequestDeadline = requestDeadline };
        var server = ServeHttpHost.StartAsync(queue, host, port, options).GetAwaiter().GetResult();
        try
        {
            log.WriteLine($"xdit serve: listening on {server.Address} (model {generator.Model}, queue size {queueSize}); Ctrl-C stops");
            log.Flush();
            stop.WaitHandle.WaitOne();
            log.WriteLine("xdit serve: stopping (cancelling the request in flight after its current step)");
            log.Flush();
        }
        finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        var m = queue.Metrics;
        log.WriteLine($"xdit serve: stopped; served {m.Served}, failed {m.Failed}, rejected {m.Rejected}, cancelled {m.Cancelled}");
        return 0;
    }
}
