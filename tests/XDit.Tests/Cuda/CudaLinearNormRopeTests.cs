using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Models;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Tests.Cuda;

/// <summary>
/// The GEMM with each head's RMSNorm and rotation in its epilogue (native/kernels/linear_norm_rope.cu) against the
/// unfused ops on CpuOps from the same inputs: Linear, then RmsNormRope per group of heads. Shapes that reach every
/// edge of the kernel: rows past a 128-row tile (a partial last tile), K not a multiple of the 32-wide stage, two
/// batches, q and k heads with norm weights of their own ([2, d]), y the q/k columns of a packed QKV row (strided,
/// v's columns left as they were). 16-bit activations must take the kernel; float32 and head dims it is not built
/// for take the unfused pair, and must match all the same.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class CudaLinearNormRopeTests
{
    static readonly CpuOps Cpu = new();
    const int B = 2, N = 150, K = 72, H = 2;   // H heads each of q and k

    public static TheoryData<DType, int, bool, bool> Cases => new()
    {
        { DType.BF16, 128, true, false }, { DType.F16, 128, true, false }, { DType.BF16, 64, false, false }, { DType.F16, 64, true, false },
        { DType.F32, 128, true, false }, { DType.BF16, 72, true, false },
        { DType.BF16, 64, true, true }, { DType.F16, 128, true, true }, { DType.BF16, 128, false, true }, { DType.F32, 64, true, true },
    };

    /// <summary>RMSNorm (Flux) or, with <paramref name="layerNorm"/>, LayerNorm with the norm's bias (CogVideoX): the
    /// kernel against Linear then RmsNormRope per group of heads, or LayerNormRope with its rows of weight and bias.</summary>
    [Theory, MemberData(nameof(Cases))]
    public void EqualsLinearThenTheNormAndRotationPerGroup(DType dt, int d, bool rotate, bool layerNorm)
    {
        var gpu = CudaTestDevice.Get(dt);
        int qk = 2 * H * d, width = 3 * H * d;
        float[] Input(int n, int seed, float scale) => CudaTestDevice.Quantize(Numerics.Random(n, seed, scale), dt);
        var data = new[]
        {
            Input(B * N * width, 61, 1), Input(B * N * K, 62, 1), Input(qk * K, 63, 0.3f), Input(qk, 64, 1),
            Input(2 * d, 65, 1), Input(N * d, 66, 1), Input(N * d, 67, 1), Input(2 * d, 68, 1),
        };
        int[][] shapes = [[B, N, width], [B, N, K], [qk, K], [qk], [2, d], [N, d], [N, d], [2, d]];

        // CpuOps: the unfused ops, written into the q/k columns of the packed rows
        var c = data.Select((v, i) => Cpu.FromHost(v, shapes[i])).ToArray();
        using var proj = Cpu.Linear(c[1], c[2], c[3]);
        var heads = proj.Reshape(B, N, 2 * H, d);
        var want = Cpu.Contiguous(c[0]);
        var wantQk = QkHeads(want, d);
        if (layerNorm) Cpu.LayerNormRope(wantQk, heads, c[4], c[7], rotate ? c[5] : null, rotate ? c[6] : null, 1e-6f, interleaved: true);
        else
            for (int g = 0; g < 2; g++)
                Cpu.RmsNormRope(wantQk.Slice(2, g * H, H), heads.Slice(2, g * H, H), c[4].Select(0, g), rotate ? c[5] : null, rotate ? c[6] : null, 1e-6f, interleaved: true);

        var t = data.Select((v, i) => gpu.FromHost(v, shapes[i])).ToArray();
        var launches = new List<string>();
        int fallbacks = gpu.NormRopeEpilogueFallbacks;
        gpu.Launches.Observer = launches.Add;
        try
        {
            if (layerNorm) gpu.LinearLayerNormRopeInto(QkHeads(t[0], d), t[1], t[2], t[3], t[4], t[7], rotate ? t[5] : null, rotate ? t[6] : null, 1e-6f, interleaved: true);
            else gpu.LinearRmsNormRopeInto(QkHeads(t[0], d), t[1], t[2], t[3], t[4], rotate ? t[5] : null, rotate ? t[6] : null, 1e-6f, interleaved: true);
        }
        finally { gpu.Launches.Observer = null; }

        var got = gpu.ToHost(t[0]);
        double err = Numerics.RelativeError(got, Cpu.ToHost(want));
        Assert.True(err <= CudaTestDevice.Tolerance(dt), $"{dt} d {d}: relative error {err:E3}");
        Assert.True(got.All(float.IsFinite), "non-finite output");
        // v's columns were not written
        var v = Cpu.ToHost(Cpu.Contiguous(c[0].Slice(2, qk, width - qk)));
        using var gotV = gpu.Contiguous(t[0].Slice(2, qk, width - qk));
        Assert.Equal(v, gpu.ToHost(gotV));

        bool fused = dt != DType.F32 && CudaKernels.LinearNormRopeFor(layerNorm, dt == DType.BF16, d) is not null;
        string kernel = $"linear_{(layerNorm ? "layer" : "rms")}_norm_rope_{(dt == DType.BF16 ? "bf16" : "f16")}_d{d}";
        Assert.Equal(fused ? [kernel] : launches.Where(l => l != kernel).ToList(), launches);
        Assert.Equal(dt != DType.F32 && !fused ? 1 : 0, gpu.NormRopeEpilogueFallbacks - fallbacks);

        foreach (var x in c.Append(want)) x.Dispose();
        foreach (var x in t) x.Dispose();
    }

    /// <summary>Mochi's rotation: every head its own angles, tables [N, H·d] (a row per head of the norm group). The
    /// kernel (bf16, d 64) and the unfused ops head by head (float32) against CpuOps' per-head RmsNormRope, each head
    /// with its columns of the tables; y a view with strided batches.</summary>
    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F32)]
    public void PerHeadTablesRotateEachHeadByItsOwnColumns(DType dt)
    {
        const int b = 2, n = 131, k = 40, heads = 3, d = 64;
        var gpu = CudaTestDevice.Get(dt);
        float[] Input(int count, int seed, float scale) => CudaTestDevice.Quantize(Numerics.Random(count, seed, scale), dt);
        int[][] shapes = [[b, n, k], [heads * d, k], [d], [n, heads * d], [n, heads * d]];
        var data = shapes.Select((s, i) => Input((int)Shape.Product(s), 91 + i, i == 1 ? 0.3f : 1f)).ToArray();
        var c = data.Select((v, i) => Cpu.FromHost(v, shapes[i])).ToArray();
        var g = data.Select((v, i) => gpu.FromHost(v, shapes[i])).ToArray();

        using var proj = Cpu.Linear(c[0], c[1]);
        var want = proj.Reshape(b, n, heads, d);
        for (int h = 0; h < heads; h++)
        {
            var head = want.Slice(2, h, 1);
            Cpu.RmsNormRope(head, head, c[2], c[3].Slice(1, h * d, d), c[4].Slice(1, h * d, d), 1e-5f, interleaved: true);
        }
        // y: the first n rows of a [b, n + 5, heads, d] tensor
        using var rows = gpu.Zeros(dt, b, n + 5, heads, d);
        var y = rows.Slice(1, 0, n);
        var launches = new List<string>();
        gpu.Launches.Observer = launches.Add;
        try { gpu.LinearRmsNormRopeInto(y, g[0], g[1], null, g[2], g[3], g[4], 1e-5f, interleaved: true); }
        finally { gpu.Launches.Observer = null; }
        using var got = gpu.Contiguous(y);
        double err = Numerics.RelativeError(gpu.ToHost(got), Cpu.ToHost(want));
        Assert.True(err <= CudaTestDevice.Tolerance(dt), $"{dt}: relative error {err:E3}");
        Assert.Equal(dt == DType.BF16 ? 1 : 0, launches.Count(l => l == "linear_rms_norm_rope_bf16_d64"));
        foreach (var x in c.Concat(g)) x.Dispose();
    }

    /// <summary>Flux at toy size with a head dim the kernel is built for (flux-tiny: 2 heads × 64), two rows, random
    /// weights in ±0.5 (the benchmark's ±0.02 leave q·k so small that bf16 attention does not see them): its forward with q and k normed and rotated in their projection's epilogue (the model's wiring of
    /// the op: the packed rows' views, the stacked [2, d] norms, text and image tables) equals its forward with the
    /// GEMM and a norm pass, and ran the kernel.</summary>
    [Fact]
    public void FluxsForwardIsTheSameWithTheNormInTheEpilogueOrAsAPass()
    {
        var gpu = CudaTestDevice.Get(DType.BF16);
        var workload = XDit.Engine.Bench.RealSizeModels.Workload("flux-tiny", DType.BF16, rows: 2);
        using var model = XDit.Models.Flux.FluxTransformer.Load(XDit.Engine.Bench.RealSizeModels.FluxTiny, new RandomCheckpoint("flux-tiny", DType.BF16, scale: 0.5f), gpu);
        var launches = new List<string>();
        float[] Forward(bool fused)
        {
            var owned = new List<Tensor>();
            gpu.FuseNormRopeEpilogue = fused;
            gpu.Launches.Observer = launches.Add;
            try
            {
                using var y = model.Forward(gpu, workload.Inputs(gpu, owned));
                return gpu.ToHost(y);
            }
            finally
            {
                gpu.FuseNormRopeEpilogue = true;
                gpu.Launches.Observer = null;
                foreach (var t in owned) t.Dispose();
            }
        }
        var pass = Forward(fused: false);
        Assert.DoesNotContain("linear_rms_norm_rope_bf16_d64", launches);
        var fused = Forward(fused: true);
        Assert.Equal(4, launches.Count(l => l == "linear_rms_norm_rope_bf16_d64"));   // q/k of both streams, one double and one single block
        double err = Numerics.RelativeError(fused, pass);
        Assert.True(err <= CudaTestDevice.Tolerance(DType.BF16), $"relative error {err:E3}");
        Assert.True(fused.All(float.IsFinite), "non-finite output");
    }

    /// <summary>
    /// What Flux's joint attention reads, from <see cref="PackedQkv.ProjectInto"/> on the device (bf16, d 128: the
    /// kernel) against the unfused ops on CpuOps: per stream the QKV GEMM into its rows of the joint [B, T + N, 3·D]
    /// tensor (text first), then q's RMSNorm with norm_q and k's with norm_k (rows 0 and 1 of the stacked [2, d]) and
    /// the stream's own rotation table; v as projected. Every element of the joint tensor is compared.
    /// </summary>
    [Fact]
    public void PackedQkvWritesWhatTheUnfusedOpsWrite()
    {
        const int b = 2, t = 7, n = 130, k = 64, heads = 2, d = 128, D = heads * d;
        var dt = DType.BF16;
        var gpu = CudaTestDevice.Get(dt);
        float[] Input(int count, int seed, float scale) => CudaTestDevice.Quantize(Numerics.Random(count, seed, scale), dt);
        int[][] shapes = [[b, t, k], [b, n, k], [3 * D, k], [3 * D], [3 * D, k], [3 * D], [2, d], [2, d], [t, d], [t, d], [n, d], [n, d]];
        var data = shapes.Select((s, i) => Input((int)Shape.Product(s), 71 + i, i is 2 or 4 ? 0.2f : 1f)).ToArray();
        var c = data.Select((v, i) => Cpu.FromHost(v, shapes[i])).ToArray();
        var g = data.Select((v, i) => gpu.FromHost(v, shapes[i])).ToArray();

        using var want = Cpu.Zeros(DType.F32, b, t + n, 3 * D);
        foreach (var (rows, x, w, bias, norms, cos, sin) in new[] { (want.Slice(1, 0, t), c[0], c[4], c[5], c[7], c[8], c[9]), (want.Slice(1, t, n), c[1], c[2], c[3], c[6], c[10], c[11]) })
        {
            Cpu.LinearInto(rows, x, w, bias);
            var h = rows.Dims[1];
            for (int part = 0; part < 2; part++)
            {
                var qk = new Tensor(rows.Storage, rows.DType, [b, h, heads, d], [rows.Strides[0], rows.Strides[1], d, 1], rows.Offset + part * D);
                Cpu.RmsNormRope(qk, qk, norms.Select(0, part), cos, sin, HeadProjection.NormEps, interleaved: true);
            }
        }
        using var got = gpu.Zeros(dt, b, t + n, 3 * D);
        var launches = new List<string>();
        gpu.Launches.Observer = launches.Add;
        try
        {
            PackedQkv.ProjectInto(gpu, got.Slice(1, 0, t), g[0], new Linear(g[4], g[5]), g[7], heads, g[8], g[9]);
            PackedQkv.ProjectInto(gpu, got.Slice(1, t, n), g[1], new Linear(g[2], g[3]), g[6], heads, g[10], g[11]);
        }
        finally { gpu.Launches.Observer = null; }
        Assert.Equal(2, launches.Count(l => l == "linear_rms_norm_rope_bf16_d128"));
        double err = Numerics.RelativeError(gpu.ToHost(got), Cpu.ToHost(want));
        Assert.True(err <= CudaTestDevice.Tolerance(dt), $"relative error {err:E3}");
        foreach (var x in c.Concat(g)) x.Dispose();
    }

    /// <summary>`xdit bench --what qk-projection` times the op as CudaOps runs it, then the unfused pair and the GEMM
    /// alone, and says which ran: the fused kernel where it is built for the head dim, the pair elsewhere; the
    /// backend's setting is left as it was.</summary>
    [Theory]
    [InlineData(64, "fused")]
    [InlineData(72, "gemm+pass")]
    public void TheBenchmarkNamesWhatRan(int headDim, string first)
    {
        var gpu = CudaTestDevice.Get(DType.BF16);
        var rows = XDit.Engine.Bench.OpBenchmarks.QkProjection(gpu, 40, 2, headDim, repeats: 1).ToList();
        Assert.Equal([first, "gemm+pass", "gemm"], rows.Select(r => (string)r.Size["kernel"]));
        Assert.All(rows, r => Assert.True(r.Tflops > 0));
        Assert.True(gpu.FuseNormRopeEpilogue);
    }

    /// <summary>The q and k heads [B, N, 2H, d] of packed [B, N, 3·H·d] rows: the first 2·H·d columns.</summary>
    static Tensor QkHeads(Tensor packed, int d)
        => new(packed.Storage, packed.DType, [B, N, 2 * H, d], [packed.Strides[0], packed.Strides[1], d, 1], packed.Offset);
}
