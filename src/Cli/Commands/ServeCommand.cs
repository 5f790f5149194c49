using System.CommandLine;
using System.Runtime.InteropServices;
using XDit.Engine.Pipelines;
using XDit.Engine.Serving;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit serve`: loads the model once and answers POST /generate over HTTP, one generation at a time from a
/// bounded queue (xDiT's service runs one request at a time with no queue). Ctrl-C or SIGTERM stops taking
/// requests, finishes the one in flight and exits 0.
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
        var parallel = new ParallelOptions();

        var cmd = new Command("serve", "Serve text-to-image generation over HTTP (POST /generate, GET /health, GET /metrics)");
        foreach (var o in new Option[] { model, device, dtype, queueSize, host, port }.Concat(parallel.All)) cmd.Options.Add(o);

        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            int size = parse.GetValue(queueSize);
            if (size < 1) throw new ArgumentException($"--queue-size must be at least 1, got {size}");
            var options = new PipelineOptions { Device = parse.GetValue(device)!, DType = DTypeNames.Parse(parse.GetValue(dtype)) };
            var modelDir = parse.GetValue(model) ?? DemoModel.Find();
            var plan = parallel.Read(parse);
            ServeHttpHost.CheckAddress(parse.GetValue(host)!, parse.GetValue(port));
            plan.Mesh(); // refuses degrees whose product is not the world size, before loading anything

            using var stop = new CancellationTokenSource();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });

            Console.WriteLine($"loading {modelDir} ...");
            using var generator = Load(modelDir, options, plan);
            return Serve(generator, size, parse.GetValue(host)!, parse.GetValue(port), stop.Token, Console.Out);
        }));
        return cmd;
    }

    static IImageGenerator Load(string modelDir, PipelineOptions options, XDit.Engine.Execution.ParallelConfig plan)
    {
        var pipeline = PipelineLoader.Load(modelDir, options);
        if (plan.IsSingleRank)
        {
            pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
            return new PipelineImageGenerator(pipeline, modelDir);
        }
        // The parallel path loads the ranks' pipelines per request; this load checks the model and reads its size rule.
        using (pipeline)
            return new ParallelPlanGenerator(modelDir, plan,
                _ => XDit.Engine.Backends.BackendFactory.Create(options.Device, options.DType), pipeline.SizeMultiple);
    }

    /// <summary>
    /// Serves until <paramref name="stop"/> fires, then stops taking requests, finishes the one in flight and
    /// returns 0. Prints the address (with the real port) once listening.
    /// </summary>
    public static int Serve(IImageGenerator generator, int queueSize, string host, int port, CancellationToken stop, TextWriter log)
    {
        using var queue = new GenerationQueue(generator, queueSize);
        var server = ServeHttpHost.StartAsync(queue, host, port).GetAwaiter().GetResult();
        try
        {
            log.WriteLine($"xdit serve: listening on {server.Address} (model {generator.Model}, queue size {queueSize}); Ctrl-C stops");
            log.Flush();
            stop.WaitHandle.WaitOne();
            log.WriteLine("xdit serve: stopping (finishing the request in flight)");
            log.Flush();
        }
        finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        var m = queue.Metrics;
        log.WriteLine($"xdit serve: stopped; served {m.Served}, failed {m.Failed}, rejected {m.Rejected}, cancelled {m.Cancelled}");
        return 0;
    }
}
