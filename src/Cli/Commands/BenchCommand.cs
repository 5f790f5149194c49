using System.CommandLine;
using System.Text.Json;
using XDit.Engine.Backends;
using XDit.Engine.Bench;
using XDit.Engine.Pipelines;
using XDit.Kernels;
using XDit.Kernels.Cuda;
using XDit.Runtime;

namespace XDit.Cli.Commands;

/// <summary>`xdit bench`: timings (GEMM, attention, a denoising step of a model, a real-size forward, the parallel
/// methods) as a table for people, or as JSON lines with --json.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var what = new Option<string[]>("--what") { Description = "gemm, attention, qk-projection, step, forward, parallel (repeatable) [default: gemm, attention, step]", AllowMultipleArgumentsPerToken = true };
        var size = new Option<int>("--gemm-size") { Description = "M = N = K of the GEMM", DefaultValueFactory = _ => 1024 };
        var tokens = new Option<int>("--tokens") { Description = "attention sequence length", DefaultValueFactory = _ => 1024 };
        var heads = new Option<int>("--heads") { Description = "attention heads", DefaultValueFactory = _ => 16 };
        var headDim = new Option<int>("--head-dim") { Description = "attention head dimension", DefaultValueFactory = _ => 72 };
        var attentionShape = new Option<string[]>("--attention-shape")
        {
            Description = "TOKENSxHEADSxHEAD_DIM, repeatable (instead of --tokens/--heads/--head-dim), e.g. 4096x16x72; also the shapes of --what qk-projection",
            AllowMultipleArgumentsPerToken = true,
        };
        var attentionWindow = NumberOptions.Int("--attention-window", "also time each attention shape with a band window of this half-width (DiTFastAttn's window attention)");
        var repeats = new Option<int>("--repeats") { Description = "timed repeats after one warm-up (the median is reported)", DefaultValueFactory = _ => 5 };
        var model = new Option<string?>("--model", "-m") { Description = "pipeline folder for the step timing [default: the demo model]" };
        var forwardModel = new Option<string>("--forward-model")
        {
            Description = $"transformer of the forward timing, at its real size with random weights: {string.Join(", ", RealSizeModels.Names)}",
            DefaultValueFactory = _ => "pixart-xl-2-1024",
        };
        var latent = new Option<int?>("--latent") { Description = "latent side of the forward timing [default: the model's trained size, 128 = 1024 px]" };
        var textTokens = new Option<int?>("--text-tokens") { Description = "text tokens of the forward timing [default: PixArt's 120, SD3's 333, Flux's 512, SANA's 300, SDXL's 77]" };
        var rows = new Option<int?>("--rows") { Description = "batch rows of the forward timing, [negative; positive] of one prompt [default: 2; Flux 1]" };
        var ledger = new Option<bool>("--ledger")
        {
            Description = "with --what forward: the launch ledger of one forward instead of its timing: per op kind and per block the launches, " +
                          "bytes read and written, FLOPs and roofline time, then the forward's total. Without --device cuda it runs on the CPU " +
                          "emulator's CUDA device in no-exec mode (nothing runs, memory is only reserved: any real size fits); on a GPU each op is " +
                          "also timed with CUDA events",
        };
        var gpu = new Option<string>("--gpu") { Description = "the roofline's GPU: h100 (SXM, 3.35 TB/s, 989 TFLOP/s bf16) or h200 (4.8 TB/s)", DefaultValueFactory = _ => "h100" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per timing (JSON lines) instead of a table; with --ledger, the ledger as one JSON object" };
        var attentionBackend = new AttentionBackendOption();
        // both take several values per flag, so an unknown or misspelled flag after them would pass as one of their
        // values and be ignored: each value is checked as the command line is parsed
        what.Validators.Add(r =>
        {
            foreach (var t in r.Tokens.Where(t => !WhatKinds.Contains(t.Value.ToLowerInvariant())))
                r.AddError($"--what: '{t.Value}' is not one of {string.Join(", ", WhatKinds)}{(t.Value.StartsWith('-') ? " (an unknown flag after --what is read as its value)" : "")}");
        });
        attentionShape.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                try { ParseAttentionShape(t.Value); }
                catch (ArgumentException e) { r.AddError(e.Message); }
        });
        var cmd = new Command("bench", "Time GEMM, attention, a denoising step, a real-size forward pass and the parallel methods (a table, or --json)");
        foreach (var o in new Option[] { device, what, size, tokens, heads, headDim, attentionShape, attentionWindow, repeats, model, forwardModel, latent, textTokens, rows, ledger, gpu, json, attentionBackend.Option })
            cmd.Options.Add(o);
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var selected = parse.GetValue(what) is { Length: > 0 } w ? w.Select(s => s.ToLowerInvariant()).ToHashSet() : new HashSet<string> { "gemm", "attention", "step" };
            int reps = parse.GetValue(repeats);
            bool asJson = parse.GetValue(json);
            var table = new BenchTable(Console.Out);
            void Print(BenchResult r) { if (asJson) Console.WriteLine(JsonSerializer.Serialize(r, Json)); else table.Add(r); }
            var attention = attentionBackend.Read(parse);
            using var ops = BackendFactory.Create(parse.GetValue(device)!, attention: attention);
            if (selected.Contains("gemm")) { int n = parse.GetValue(size); Print(OpBenchmarks.Gemm(ops, n, n, n, reps)); }
            var shapes = parse.GetValue(attentionShape) is { Length: > 0 } list
                ? list.Select(ParseAttentionShape).ToArray()
                : [(parse.GetValue(tokens), parse.GetValue(heads), parse.GetValue(headDim))];
            if (selected.Contains("attention"))
                foreach (var (t, h, d) in shapes)
                    foreach (var r in OpBenchmarks.Attention(ops, t, h, d, reps, parse.GetValue(attentionWindow))) Print(r);
            // q and k of one stream projected from its tokens × heads·head_dim, normed and rotated (Flux: 4096x24x128)
            if (selected.Contains("qk-projection"))
                foreach (var (t, h, d) in shapes)
                    foreach (var r in OpBenchmarks.QkProjection(ops, t, h, d, reps)) Print(r);
            if (selected.Contains("step"))
            {
                using var pipeline = PipelineLoader.Load(parse.GetValue(model) ?? DemoModel.Find(), new PipelineOptions { Device = parse.GetValue(device)!, AttentionBackend = attention });
                Print(OpBenchmarks.DenoiseStep(pipeline, Math.Max(3, reps)));
            }
            if (parse.GetValue(ledger))
            {
                if (!selected.Contains("forward")) throw new ArgumentException("--ledger: the ledger is of a forward pass; add --what forward");
                selected.Remove("forward");
                PrintLedger(ops, parse.GetValue(device)!, parse.GetValue(forwardModel)!, GpuSpec.Parse(parse.GetValue(gpu)!),
                    parse.GetValue(latent), parse.GetValue(textTokens), parse.GetValue(rows), parse.GetValue(json));
            }
            if (selected.Contains("forward"))
            {
                var workload = RealSizeModels.Workload(parse.GetValue(forwardModel)!, ops.ActivationType, parse.GetValue(latent),
                    parse.GetValue(textTokens), parse.GetValue(rows), shapeOnlyWeights: OnNoExecEmulator(ops));
                foreach (var r in OpBenchmarks.Forward(ops, workload, reps)) Print(r);
            }
            if (selected.Contains("parallel"))
            {
                // One denoising step of the demo transformer at world sizes 1, 2, 4 (in-process ranks), with the
                // bytes each rank sent per step.
                var transformer = Path.Combine(parse.GetValue(model) ?? DemoModel.Find(), "transformer");
                var parallelRows = ParallelStepBenchmark.Run(new[] { 1, 2, 4 }, transformer, steps: Math.Max(3, reps));
                if (asJson) foreach (var row in parallelRows) Console.WriteLine(JsonSerializer.Serialize(row, Json));
                else Console.Write(ParallelStepBenchmark.Format(parallelRows));
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>The ledger of one forward: on this GPU (timed with CUDA events) with --device cuda, else on the
    /// emulator's no-exec device with weights of shape only.</summary>
    static void PrintLedger(IOps ops, string device, string model, GpuSpec gpu, int? latent, int? textTokens, int? rows, bool asJson)
    {
        bool onGpu = BackendFactory.IsCuda(device);
        var ledgerOps = onGpu ? ops : NoExecDevice.Open(DType.BF16);
        try
        {
            var workload = RealSizeModels.Workload(model, ledgerOps.ActivationType, latent, textTokens, rows, shapeOnlyWeights: !onGpu || OnNoExecEmulator(ops));
            string where = onGpu ? $"{ops.Name} ({(ops as CudaOps)?.Info.Name}), timed with CUDA events" : NoExecDevice.Description;
            var report = ForwardLedger.Run(ledgerOps, workload, gpu, time: onGpu, where);
            Console.WriteLine(asJson ? JsonSerializer.Serialize(report, Json) : report.Format());
        }
        finally
        {
            if (!onGpu)
            {
                ledgerOps.Dispose();
                XDit.Runtime.Cuda.EmulatorNoExec.Set(-1);   // this thread runs work again (the tests call Main in-process)
            }
        }
    }

    /// <summary>Whether <paramref name="ops"/> is the CPU emulator's CUDA device in no-exec mode (XDIT_EMU_NO_EXEC=1, as
    /// tests/gpu-rehearse.sh runs the GPU check's benches): there weight values are never read, and random ones for a
    /// real-size model (24 GB for Flux in bf16) would not fit this machine's memory, so they come as shapes only.
    /// False on a GPU, where the driver has no such mode.</summary>
    static bool OnNoExecEmulator(IOps ops) => ops is CudaOps && XDit.Runtime.Cuda.EmulatorNoExec.IsOn();

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    static readonly string[] WhatKinds = ["gemm", "attention", "qk-projection", "step", "forward", "parallel"];

    static (int Tokens, int Heads, int HeadDim) ParseAttentionShape(string s)
    {
        var p = s.Split('x');
        if (p.Length != 3 || !int.TryParse(p[0], out int t) || !int.TryParse(p[1], out int h) || !int.TryParse(p[2], out int d) || t < 1 || h < 1 || d < 1)
            throw new ArgumentException($"--attention-shape: '{s}' is not TOKENSxHEADSxHEAD_DIM with positive numbers (e.g. 4096x16x72)");
        return (t, h, d);
    }

}
