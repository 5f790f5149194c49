using XDit.Comm;
using XDit.Engine.Parallel;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Cuda;

/// <summary>
/// cuDNN's fused attention (CudnnAttention, chosen by CudaOps.AttentionBackend) against our kernel and the CPU twin:
/// outputs within the dtype's tolerance, log-sum-exp within float tolerance, for the head dims of the supported
/// models (64, 72, 128), self attention over views of one packed QKV projection, joint attention over text and image
/// tokens, and Ring attention merging cuDNN's log-sum-exp. The cuDNN runs are forced (AttentionBackend.Cudnn), so a
/// refusal fails the test instead of passing on our kernel. On a GPU this is real cuDNN; in the emulator pass the
/// stand-in of native/emu/fake_cudnn.cpp, which checks the graph and computes it on the CPU.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class CudnnAttentionTests
{
    static readonly CpuOps Cpu = new();

    public static TheoryData<DType, int> Cases() => new()
    {
        { DType.BF16, 64 }, { DType.BF16, 72 }, { DType.BF16, 128 }, { DType.F16, 64 }, { DType.F16, 72 }, { DType.F16, 128 },
    };

    /// <summary>Runs <paramref name="body"/> with the device's attention backend set to <paramref name="backend"/>,
    /// then puts the caller's back (the device is shared by the collection).</summary>
    static T With<T>(CudaOps gpu, AttentionBackend backend, Func<T> body)
    {
        var was = gpu.AttentionBackend;
        gpu.AttentionBackend = backend;
        try { return body(); }
        finally { gpu.AttentionBackend = was; }
    }

    /// <summary>Attention (with its log-sum-exp) of q, k, v on cuDNN, on our kernel, and on the CPU from the same
    /// rounded values; the three agree.</summary>
    static void Agree(CudaOps gpu, DType dt, Tensor q, Tensor k, Tensor v, string what)
    {
        int B = q.Dim(0), Nq = q.Dim(1), H = q.Dim(2);
        (float[] O, float[] Lse) Run(AttentionBackend backend)
        {
            using var lse = gpu.Empty(DType.F32, B, H, Nq);
            using var o = With(gpu, backend, () => gpu.Attention(q, k, v, null, lse));
            Assert.Equal(backend == AttentionBackend.Cudnn ? "cudnn" : "native", gpu.LastAttentionBackend);
            return (gpu.ToHost(o), gpu.ToHost(lse));
        }
        var cudnn = Run(AttentionBackend.Cudnn);
        var native = Run(AttentionBackend.Native);
        using var qc = Cpu.FromHost(gpu.ToHost(q), q.Dims);
        using var kc = Cpu.FromHost(gpu.ToHost(k), k.Dims);
        using var vc = Cpu.FromHost(gpu.ToHost(v), v.Dims);
        using var lseCpu = Cpu.Empty(DType.F32, B, H, Nq);
        using var oc = Cpu.Attention(qc, kc, vc, null, lseCpu);
        double tol = CudaTestDevice.Tolerance(dt);
        double vsNative = Numerics.RelativeError(cudnn.O, native.O), vsCpu = Numerics.RelativeError(cudnn.O, Cpu.ToHost(oc));
        Assert.True(vsNative <= tol, $"{what}: cuDNN vs our kernel, relative error {vsNative:E3} > {tol:E1}");
        Assert.True(vsCpu <= tol, $"{what}: cuDNN vs the CPU, relative error {vsCpu:E3} > {tol:E1}");
        double lseNative = Numerics.RelativeError(cudnn.Lse, native.Lse), lseCpuErr = Numerics.RelativeError(cudnn.Lse, Cpu.ToHost(lseCpu));
        Assert.True(lseNative <= 1e-4, $"{what}: cuDNN's log-sum-exp vs our kernel's, relative error {lseNative:E3}");
        Assert.True(lseCpuErr <= 1e-4, $"{what}: cuDNN's log-sum-exp vs the CPU's, relative error {lseCpuErr:E3}");
        Assert.True(cudnn.O.All(float.IsFinite), $"{what}: non-finite output");
    }

    [Theory, MemberData(nameof(Cases))]
    public void SelfAttentionOverPackedQkvViewsMatchesOurKernelAndTheCpu(DType dt, int d)
    {
        // q, k and v as strided views of one [B, N, 3, H, d] projection, passed to cuDNN without copies; 70 tokens:
        // more than one 64-row tile, not a multiple of it
        var gpu = CudaTestDevice.Get(dt);
        const int B = 2, N = 70, H = 3;
        using var qkv = gpu.FromHost(CudaTestDevice.Quantize(Numerics.Random(B * N * 3 * H * d, 300 + d), dt), B, N, 3, H, d);
        using var q = qkv.Select(2, 0);
        using var k = qkv.Select(2, 1);
        using var v = qkv.Select(2, 2);
        Agree(gpu, dt, q, k, v, $"self attention, head dim {d}");
    }

    [Theory, MemberData(nameof(Cases))]
    public void JointAttentionMatchesOurKernelAndTheCpu(DType dt, int d)
    {
        // SD3/Flux: the text tokens' q, k, v joined to the image tokens' (one sequence of 17 + 48), then image
        // queries alone over the joined keys (a query count of its own)
        var gpu = CudaTestDevice.Get(dt);
        const int B = 1, Text = 17, Image = 48, H = 2;
        Tensor Up(int n, int seed) => gpu.FromHost(CudaTestDevice.Quantize(Numerics.Random(B * n * H * d, seed), dt), B, n, H, d);
        using var tq = Up(Text, 400 + d);
        using var tk = Up(Text, 401 + d);
        using var tv = Up(Text, 402 + d);
        using var iq = Up(Image, 403 + d);
        using var ik = Up(Image, 404 + d);
        using var iv = Up(Image, 405 + d);
        using var q = gpu.Concat(1, tq, iq);
        using var k = gpu.Concat(1, tk, ik);
        using var v = gpu.Concat(1, tv, iv);
        Agree(gpu, dt, q, k, v, $"joint attention, head dim {d}");
        Agree(gpu, dt, iq, k, v, $"image queries over joint keys, head dim {d}");
    }

    [Fact]
    public void RingAttentionMergingCudnnLseEqualsOneRank()
    {
        // two in-process ranks (both on device 0, so one GPU suffices), each attending its image shard's queries to
        // every K/V shard as it comes round the ring, with text joined first (Flux): every partial attention runs on
        // cuDNN (forced) and the partials merge by cuDNN's log-sum-exp
        CudaTestDevice.RequireDevice();
        const DType dt = DType.BF16;
        const int B = 1, PerRank = 40, Text = 9, H = 2, D = 64, S = 2 * PerRank;
        float[] Data(int n, int seed) => CudaTestDevice.Quantize(Numerics.Random(n, seed), dt);
        float[] q = Data(B * S * H * D, 501), k = Data(B * S * H * D, 502), v = Data(B * S * H * D, 503);
        float[] jq = Data(B * Text * H * D, 504), jk = Data(B * Text * H * D, 505), jv = Data(B * Text * H * D, 506);

        AttentionCall Call(IOps ops, Tensor lq, Tensor lk, Tensor lv, List<Tensor> owned)
        {
            Tensor Up(float[] x, int n) { var t = ops.FromHost(x, B, n, H, D); owned.Add(t); return t; }
            return new AttentionCall
            {
                Layer = "blocks.0.attn", Kind = AttentionKind.Self, Q = lq, K = lk, V = lv,
                JointQ = Up(jq, Text), JointK = Up(jk, Text), JointV = Up(jv, Text), JointFirst = true,
            };
        }

        float[] want, wantText;
        {
            var owned = new List<Tensor>();
            var call = Call(Cpu, Cpu.FromHost(q, B, S, H, D), Cpu.FromHost(k, B, S, H, D), Cpu.FromHost(v, B, S, H, D), owned);
            owned.AddRange([call.Q, call.K, call.V]);
            var res = LocalAttention.Instance.Run(Cpu, call);
            want = Cpu.ToHost(res.Output);
            wantText = Cpu.ToHost(res.JointOutput!);
            res.Output.Dispose(); res.JointOutput!.Dispose();
            owned.ForEach(t => t.Dispose());
        }

        var ranks = InProcessWorld.Run(2, _ => new CudaOps(0, dt) { AttentionBackend = AttentionBackend.Cudnn }, comm =>
        {
            var ops = (CudaOps)comm.Ops;
            var owned = new List<Tensor>();
            int r = comm.Rank;
            try
            {
                var lq = ops.FromHost(q.AsSpan(r * PerRank * H * D, PerRank * H * D), B, PerRank, H, D);
                var lk = ops.FromHost(k.AsSpan(r * PerRank * H * D, PerRank * H * D), B, PerRank, H, D);
                var lv = ops.FromHost(v.AsSpan(r * PerRank * H * D, PerRank * H * D), B, PerRank, H, D);
                owned.AddRange([lq, lk, lv]);
                var res = new RingAttention(comm).Run(ops, Call(ops, lq, lk, lv, owned));
                using var o = res.Output;
                using var jo = res.JointOutput;
                Assert.Equal("cudnn", ops.LastAttentionBackend);
                return (ops.ToHost(o), ops.ToHost(jo!));
            }
            finally { owned.ForEach(t => t.Dispose()); }
        });
        var image = ranks.SelectMany(x => x.Item1).ToArray();
        double tol = 2 * CudaTestDevice.Tolerance(dt);
        double err = Numerics.RelativeError(image, want);
        Assert.True(err <= tol, $"ring of 2 on cuDNN vs one CPU rank: image rows, relative error {err:E3} > {tol:E1}");
        foreach (var (_, text) in ranks)
        {
            double e = Numerics.RelativeError(text, wantText);
            Assert.True(e <= tol, $"ring of 2 on cuDNN vs one CPU rank: text rows, relative error {e:E3} > {tol:E1}");
        }
    }

    [Fact]
    public void MasksAndWindowsStayOnOurKernelEvenWithCudnnForced()
    {
        var gpu = CudaTestDevice.Get(DType.BF16);
        const int B = 1, N = 33, H = 2, D = 64;
        using var q = gpu.FromHost(Numerics.Random(B * N * H * D, 601), B, N, H, D);
        using var k = gpu.FromHost(Numerics.Random(B * N * H * D, 602), B, N, H, D);
        using var v = gpu.FromHost(Numerics.Random(B * N * H * D, 603), B, N, H, D);
        int notes = gpu.FallbackNotes().Count;
        foreach (var options in new[] { new AttentionOptions { Causal = true }, new AttentionOptions { Window = 4 } })
        {
            using (var o = With(gpu, AttentionBackend.Auto, () => gpu.Attention(q, k, v, options)))
                Assert.Equal("native", gpu.LastAttentionBackend);
            // forced, cuDNN takes every call of its kind; a masked one is not (a text encoder's must still run)
            using (var o = With(gpu, AttentionBackend.Cudnn, () => gpu.Attention(q, k, v, options)))
                Assert.Equal("native", gpu.LastAttentionBackend);
        }
        Assert.Equal(notes, gpu.FallbackNotes().Count);   // a mask is our kernel's by design, not a fallback to report
    }
}
