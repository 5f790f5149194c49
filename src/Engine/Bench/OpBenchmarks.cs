using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.FastAttn;
using XDit.Engine.Pipelines;
using XDit.Kernels;
using XDit.Kernels.Cuda;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>One timing: what was measured, its size, the median milliseconds and the derived rate.</summary>
public sealed record BenchResult(string Bench, string Device, IReadOnlyDictionary<string, object> Size, double MedianMs, double? Tflops = null, double? Gflops = null);

/// <summary>
/// Quick timings for `xdit bench`: GEMM, attention and a denoising step of a pipeline, each the median of a few
/// repeats after a warm-up. Report speed from these as ratios within one run; the tests never time anything.
/// </summary>
public static class OpBenchmarks
{
    public static BenchResult Gemm(IOps ops, int m, int n, int k, int repeats)
    {
        var r = new Random(1);
        using var a = ops.FromHost(RandomData(r, m * k), m, k);
        using var w = ops.FromHost(RandomData(r, n * k), n, k);
        double ms = Median(repeats, () => { using var y = ops.Linear(a, w); ops.ToHost(y.Slice(0, 0, 1)); });
        double flops = 2.0 * m * n * k;
        var size = new Dictionary<string, object> { ["m"] = m, ["n"] = n, ["k"] = k, ["dtype"] = DTypeName(a.DType) };
        return new BenchResult("gemm", ops.Name, size, ms, Tflops: flops / ms / 1e9, Gflops: flops / ms / 1e6);
    }

    /// <summary>Attention over [1, tokens, heads, headDim]. On CUDA, timings from the same inputs: cuDNN's fused
    /// attention first where the backend choice allows it and the shape is cuDNN's kind (kernel "cudnn"; where cuDNN
    /// refuses, the row is our kernel's with the refusal as "fallback"), then our own kernels: the path CudaOps picks
    /// among them (the tensor-core kernel for bf16/f16 with head dims up to 128, GEMMs above that) and the general
    /// kernel, so the ratios come from one run; the size's "kernel" says which is which. With a
    /// <paramref name="window"/>, a last timing of the picked path with that band window (its FLOP/s count only the
    /// band's query-key pairs, and its size gives the window).</summary>
    public static IEnumerable<BenchResult> Attention(IOps ops, int tokens, int heads, int headDim, int repeats, int? window = null)
    {
        if (window is < 0) throw new ArgumentException($"--attention-window must be ≥ 0, got {window}");
        var r = new Random(2);
        int n = tokens * heads * headDim;
        using var q = ops.FromHost(RandomData(r, n), 1, tokens, heads, headDim);
        using var k = ops.FromHost(RandomData(r, n), 1, tokens, heads, headDim);
        using var v = ops.FromHost(RandomData(r, n), 1, tokens, heads, headDim);
        double flops = 4.0 * tokens * (double)tokens * heads * headDim;
        var cuda = ops as CudaOps;
        bool tensorCores = cuda is not null && AttentionLaunch.UsesTensorCores(cuda.ActivationType, headDim);
        bool gemms = cuda is not null && cuda.UsesAttentionByGemm(cuda.ActivationType, headDim, new AttentionOptions(), wantsLse: false)
            && headDim <= AttentionLaunch.MaxHeadDim;
        string picked = cuda is null ? "cpu" : tensorCores ? "tensor_cores" : gemms ? "gemm" : "general";
        var (wasTensorCores, wasGemm) = (cuda?.TensorCoreAttention ?? false, cuda?.AttentionByGemm ?? false);
        var wasBackend = cuda?.AttentionBackend ?? AttentionBackend.Auto;
        var results = new List<BenchResult>();
        try
        {
            if (cuda is not null && wasBackend != AttentionBackend.Native
                && CudaOps.CudnnAttentionSkipped(cuda.ActivationType, headDim, tokens, new AttentionOptions()) is null)
            {
                double ms = Median(repeats, () => { using var o = ops.Attention(q, k, v); ops.ToHost(o.Slice(1, 0, 1)); });
                bool ran = cuda.LastAttentionBackend == "cudnn";
                var size = new Dictionary<string, object>
                {
                    ["tokens"] = tokens, ["heads"] = heads, ["head_dim"] = headDim, ["dtype"] = DTypeName(q.DType), ["kernel"] = ran ? "cudnn" : picked,
                };
                if (!ran) size["fallback"] = string.Join("; ", cuda.FallbackNotes().Where(n => n.StartsWith("cuDNN attention", StringComparison.Ordinal)));
                results.Add(new BenchResult("attention", ops.Name, size, ms, Tflops: flops / ms / 1e9, Gflops: flops / ms / 1e6));
            }
            if (cuda is not null) cuda.AttentionBackend = AttentionBackend.Native;   // the rows below time our kernels
            foreach (bool general in tensorCores || gemms ? new[] { false, true } : new[] { false })
            {
                if (cuda is not null) (cuda.TensorCoreAttention, cuda.AttentionByGemm) = (!general, !general);
                double ms = Median(repeats, () => { using var o = ops.Attention(q, k, v); ops.ToHost(o.Slice(1, 0, 1)); });
                var size = new Dictionary<string, object>
                {
                    ["tokens"] = tokens, ["heads"] = heads, ["head_dim"] = headDim, ["dtype"] = DTypeName(q.DType), ["kernel"] = general ? "general" : picked,
                };
                results.Add(new BenchResult("attention", ops.Name, size, ms, Tflops: flops / ms / 1e9, Gflops: flops / ms / 1e6));
            }
            if (window is int w)
            {
                if (cuda is not null) (cuda.TensorCoreAttention, cuda.AttentionByGemm) = (wasTensorCores, wasGemm);
                var options = new AttentionOptions { Window = w };
                double ms = Median(repeats, () => { using var o = ops.Attention(q, k, v, options); ops.ToHost(o.Slice(1, 0, 1)); });
                double bandFlops = flops * FastAttention.WindowShare(tokens, w);
                string kernel = cuda is null ? "cpu" : tensorCores ? "tensor_cores" : "general";   // a window never takes the GEMM path
                var size = new Dictionary<string, object>
                {
                    ["tokens"] = tokens, ["heads"] = heads, ["head_dim"] = headDim, ["dtype"] = DTypeName(q.DType), ["kernel"] = kernel, ["window"] = w,
                };
                results.Add(new BenchResult("attention", ops.Name, size, ms, Tflops: bandFlops / ms / 1e9, Gflops: bandFlops / ms / 1e6));
            }
        }
        finally
        {
            if (cuda is not null) (cuda.TensorCoreAttention, cuda.AttentionByGemm, cuda.AttentionBackend) = (wasTensorCores, wasGemm, wasBackend);   // as the caller had them
        }
        return results;
    }

    /// <summary>One stream's q/k projection with each head's RMSNorm and rotation (<see cref="IOps.LinearRmsNormRopeInto"/>)
    /// from x [1, tokens, heads·headDim] into the q/k columns of packed [1, tokens, 3·heads·headDim] rows, as Flux's
    /// joint attention reads them (Flux: 4096 × 24 × 128). On CUDA three timings from the same inputs, so the ratios
    /// come from one run: the op as CudaOps runs it by default (kernel "fused": the norm and rotation in the GEMM's
    /// epilogue; "gemm+pass" where the fused kernel does not take the shape), the cuBLASLt GEMM then the
    /// rms_norm_rope pass ("gemm+pass", the fused kernel turned off), and that GEMM alone ("gemm", the floor of the
    /// unfused pair). FLOP/s count the projection's 2·tokens·(2·D)·D.</summary>
    public static IEnumerable<BenchResult> QkProjection(IOps ops, int tokens, int heads, int headDim, int repeats)
    {
        int d = heads * headDim;
        var r = new Random(3);
        float k = 1 / MathF.Sqrt(d);   // projections of unit size
        using var x = ops.FromHost(RandomData(r, tokens * d), 1, tokens, d);
        using var w = ops.FromHost(RandomData(r, 2 * d * d).Select(v => v * k).ToArray(), 2 * d, d);
        using var bias = ops.FromHost(RandomData(r, 2 * d), 2 * d);
        using var norm = ops.FromHost(RandomData(r, 2 * headDim), 2, headDim);
        using var cos = ops.FromHost(RandomData(r, tokens * headDim), tokens, headDim);
        using var sin = ops.FromHost(RandomData(r, tokens * headDim), tokens, headDim);
        using var packed = ops.Empty(x.DType, 1, tokens, 3 * d);
        var qk = new Tensor(packed.Storage, packed.DType, [1, tokens, 2 * heads, headDim], [(long)tokens * 3 * d, 3 * d, headDim, 1], packed.Offset);
        var rows = packed.Slice(2, 0, 2 * d);
        double flops = 2.0 * tokens * 2 * d * d;
        var cuda = ops as CudaOps;
        bool was = cuda?.FuseNormRopeEpilogue ?? false;
        var results = new List<BenchResult>();
        try
        {
            foreach (var mode in cuda is null ? ["cpu"] : new[] { "fused", "gemm+pass", "gemm" })
            {
                if (cuda is not null) cuda.FuseNormRopeEpilogue = mode == "fused";
                int fallbacks = cuda?.NormRopeEpilogueFallbacks ?? 0;
                double ms = Median(repeats, () =>
                {
                    if (mode == "gemm") ops.LinearInto(rows, x, w, bias);
                    else ops.LinearRmsNormRopeInto(qk, x, w, bias, norm, cos, sin, 1e-6f, interleaved: true);
                    using var first = ops.Contiguous(packed.Slice(1, 0, 1));
                    ops.ToHost(first);
                });
                string kernel = mode == "fused" && cuda is not null && cuda.NormRopeEpilogueFallbacks != fallbacks ? "gemm+pass" : mode;
                var size = new Dictionary<string, object>
                {
                    ["tokens"] = tokens, ["heads"] = heads, ["head_dim"] = headDim, ["dtype"] = DTypeName(x.DType), ["kernel"] = kernel,
                };
                results.Add(new BenchResult("qk_projection", ops.Name, size, ms, Tflops: flops / ms / 1e9, Gflops: flops / ms / 1e6));
            }
        }
        finally
        {
            if (cuda is not null) cuda.FuseNormRopeEpilogue = was;
        }
        return results;
    }

    /// <summary>One forward pass of a workload's transformer (loaded once), the median of the repeats after a
    /// warm-up; the size names the model, batch rows, image and text tokens, the activation dtype and the mode. On
    /// CUDA a second timing from the same inputs replays the blocks from a CUDA graph (<see cref="CudaGraphExecutor"/>,
    /// warmed up and recorded before the timed repeats), so the eager/graph ratio comes from one run.</summary>
    public static IEnumerable<BenchResult> Forward(IOps ops, IStepWorkload workload, int repeats)
    {
        using var model = workload.Load(ops);
        var owned = new List<Tensor>();
        var results = new List<BenchResult>();
        try
        {
            var inputs = workload.Inputs(ops, owned);
            BenchResult Time(string mode, Func<Tensor> forward)
            {
                double ms = Median(repeats, () =>
                {
                    using var y = forward();
                    using var corner = y.Slice(0, 0, 1).Slice(1, 0, 1).Slice(2, 0, 1);
                    ops.ToHost(corner);   // waits for the pass
                });
                var size = new Dictionary<string, object>
                {
                    ["model"] = workload.Description, ["rows"] = workload.Rows, ["image_tokens"] = workload.ImageTokens,
                    ["text_tokens"] = workload.TextTokens, ["dtype"] = DTypeName(ops.ActivationType), ["mode"] = mode,
                };
                return new BenchResult("forward", ops.Name, size, ms);
            }
            results.Add(Time("eager", () => model.Forward(ops, inputs)));
            if (ops is CudaOps && model.HasTokenStages)
            {
                using var graphs = new CudaGraphExecutor();
                int step = 0;
                graphs.Predict(ops, model, inputs, step++).Dispose();   // eager, filling the graph's pool; Median's own warm-up records
                var graphed = Time("cuda_graph", () => graphs.Predict(ops, model, inputs, step++));
                // a capture that failed leaves the executor eager: the line says so instead of passing it off as a graph
                results.Add(graphs.FallbackReason is not { } why ? graphed
                    : graphed with { Size = new Dictionary<string, object>(graphed.Size) { ["fallback"] = why } });
            }
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
        return results;
    }

    /// <summary>Milliseconds per denoising step of a pipeline, from the progress events of one generation.</summary>
    public static BenchResult DenoiseStep(TextToImagePipeline pipeline, int steps)
    {
        var times = new List<double>();
        void OnProgress(object? _, PipelineProgress p) { if (p.Stage == "denoise") times.Add(p.StepTime.TotalMilliseconds); }
        pipeline.Progress += OnProgress;
        try { pipeline.Generate(new GenerationRequest { Prompts = new[] { "a red circle on a blue background" }, NumInferenceSteps = steps }); }
        finally { pipeline.Progress -= OnProgress; }
        times.Sort();
        return new BenchResult("denoise_step", pipeline.Ops.Name, new Dictionary<string, object> { ["model"] = pipeline.Index.Dir, ["steps"] = steps }, times[times.Count / 2]);
    }

    /// <summary>The dtype as the CLI spells it (f32, f16, bf16).</summary>
    internal static string DTypeName(DType t) => t.ToString().ToLowerInvariant();

    static double Median(int repeats, Action run)
    {
        run(); // warm-up: caches, arena, JIT
        var ms = new double[Math.Max(1, repeats)];
        for (int i = 0; i < ms.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            ms[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(ms);
        return ms[ms.Length / 2];
    }

    static float[] RandomData(Random r, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        return x;
    }
}
