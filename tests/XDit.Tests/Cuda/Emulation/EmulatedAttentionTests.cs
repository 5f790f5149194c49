using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// Both CUDA attention kernels (attention_tc.cuh on the tensor cores, attention.cu the general one), run on the CPU by
/// the kernel emulator with exactly the arguments and launch CudaOps plans (AttentionLaunch), against
/// CpuOps.Attention on the same dtype-rounded inputs: ‖emulated − cpu‖/‖cpu‖ within the CUDA tests' bounds
/// (1e-2 bf16, 2e-3 f16, 1e-5 f32). Sizes are awkward on purpose: partial query blocks and key tiles, head dims
/// that need padding (72 → 80, 20 → 32) or rule out 16-byte loads, strided and misaligned views.
/// </summary>
public class EmulatedAttentionTests
{
    static readonly CpuOps Cpu = new();

    public enum QkvLayout { Separate, FusedQkv, Misaligned }

    sealed record Problem(DType DType, int B, int Nq, int Nk, int H, int D)
    {
        public float[]? KeyBias { get; init; }
        public float[]? Bias { get; init; }      // [1, H, Nq, Nk]
        public bool Causal { get; init; }
        public int? Window { get; init; }
        public float? Scale { get; init; }
        public bool Lse { get; init; } = true;
        public QkvLayout Layout { get; init; } = QkvLayout.Separate;
    }

    sealed record Outcome(KernelLaunch Plan, float[] Output, float[] Expected, float[]? Lse, float[]? ExpectedLse);

    static Outcome Run(Problem p, bool tensorCores = true, int seed = 1)
    {
        var emu = KernelEmulator.Get();
        using var mem = new EmuMemory();
        int B = p.B, Nq = p.Nq, Nk = p.Nk, H = p.H, d = p.D;
        var q = CudaTestDevice.Quantize(Numerics.Random(B * Nq * H * d, seed), p.DType);
        var k = CudaTestDevice.Quantize(Numerics.Random(B * Nk * H * d, seed + 1), p.DType);
        var v = CudaTestDevice.Quantize(Numerics.Random(B * Nk * H * d, seed + 2), p.DType);
        var (qe, ke, ve) = Views(mem, p, q, k, v);
        var kb = p.KeyBias is null ? null : mem.Upload(p.KeyBias, DType.F32, B, Nk);
        var bias = p.Bias is null ? null : mem.Upload(p.Bias, DType.F32, 1, H, Nq, Nk);
        var o = mem.Alloc(p.DType, B, Nq, H, d);
        var lse = p.Lse ? mem.Alloc(DType.F32, B, H, Nq) : null;

        var options = new AttentionOptions { KeyBias = kb, Bias = bias, Causal = p.Causal, Window = p.Window, Scale = p.Scale };
        var args = AttentionLaunch.Args(qe, ke, ve, o, options, lse, EmuMemory.Pointer);
        var plan = AttentionLaunch.Plan(args, tensorCores);
        unsafe
        {
            void** a = stackalloc void*[] { &args };
            emu.Launch(plan, a);
        }
        mem.AssertGuardsIntact();

        using var qc = Cpu.FromHost(q, B, Nq, H, d);
        using var kc = Cpu.FromHost(k, B, Nk, H, d);
        using var vc = Cpu.FromHost(v, B, Nk, H, d);
        using var kbc = p.KeyBias is null ? null : Cpu.FromHost(p.KeyBias, B, Nk);
        using var biasc = p.Bias is null ? null : Cpu.FromHost(p.Bias, 1, H, Nq, Nk);
        using var lsec = p.Lse ? Cpu.Empty(DType.F32, B, H, Nq) : null;
        using var want = Cpu.Attention(qc, kc, vc, new AttentionOptions { KeyBias = kbc, Bias = biasc, Causal = p.Causal, Window = p.Window, Scale = p.Scale }, lsec);
        return new Outcome(plan, EmuMemory.Read(o), Cpu.ToHost(want), lse is null ? null : EmuMemory.Read(lse), lsec is null ? null : Cpu.ToHost(lsec));
    }

    /// <summary>q, k, v as the kernel will see them: three tensors, slices of one fused [B, N, 3, H, d] projection,
    /// or contiguous tensors shifted by one element (no row is 16-byte aligned).</summary>
    static (Tensor q, Tensor k, Tensor v) Views(EmuMemory mem, Problem p, float[] q, float[] k, float[] v)
    {
        int B = p.B, Nq = p.Nq, Nk = p.Nk, H = p.H, d = p.D;
        switch (p.Layout)
        {
            case QkvLayout.FusedQkv:
            {
                Assert.Equal(Nq, Nk);
                long[] strides = [(long)Nq * 3 * H * d, 3L * H * d, d, 1];
                var t = new Tensor[3];
                var whole = mem.Alloc(p.DType, (long)B * Nq * 3 * H * d, [B, Nq, 3 * H * d]);
                for (int i = 0; i < 3; i++)
                {
                    t[i] = new Tensor(whole.Storage, p.DType, [B, Nq, H, d], strides, whole.Offset + (long)i * H * d);
                    EmuMemory.Write(t[i], i == 0 ? q : i == 1 ? k : v);
                }
                return (t[0], t[1], t[2]);
            }
            case QkvLayout.Misaligned:
            {
                Tensor Shifted(float[] x, int n)
                {
                    var t = mem.Alloc(p.DType, (long)B * n * H * d + 1, [B, n, H, d], offset: 1);
                    EmuMemory.Write(t, x);
                    return t;
                }
                return (Shifted(q, Nq), Shifted(k, Nk), Shifted(v, Nk));
            }
            default:
                return (mem.Upload(q, p.DType, B, Nq, H, d), mem.Upload(k, p.DType, B, Nk, H, d), mem.Upload(v, p.DType, B, Nk, H, d));
        }
    }

    static void AssertClose(Outcome r, DType dt, string what)
    {
        Assert.True(r.Output.All(float.IsFinite), $"{what}: non-finite output from {r.Plan.Kernel}");
        double err = Numerics.RelativeError(r.Output, r.Expected);
        double tol = CudaTestDevice.Tolerance(dt);
        Assert.True(err <= tol, $"{what}: {r.Plan.Kernel} relative error {err:E3} > {tol:E1}");
        if (r.Lse is null) return;
        for (int i = 0; i < r.Lse.Length; i++)
        {
            float got = r.Lse[i], want = r.ExpectedLse![i];
            if (float.IsNegativeInfinity(want)) Assert.True(float.IsNegativeInfinity(got), $"{what}: lse[{i}] = {got}, expected −∞");
            else Assert.True(Math.Abs(got - want) <= 1e-3 * Math.Max(1, Math.Abs(want)), $"{what}: {r.Plan.Kernel} lse[{i}] = {got}, expected {want}");
        }
    }

    public static TheoryData<DType, int> TensorCoreCases()
    {
        var data = new TheoryData<DType, int>();
        foreach (var dt in new[] { DType.BF16, DType.F16 })
            foreach (int d in new[] { 20, 40, 64, 72, 128 })
                data.Add(dt, d);
        return data;
    }

    [Theory, MemberData(nameof(TensorCoreCases))]
    public void TensorCoreKernelMatchesCpu(DType dt, int d)
    {
        // 70 queries: one full block of 64 and a partial one; 130 keys: two full tiles of 64 and a partial one
        var r = Run(new Problem(dt, 2, 70, 130, 2, d));
        Assert.StartsWith("flash_attention_tc_", r.Plan.Kernel);
        AssertClose(r, dt, $"{dt} d={d}");
    }

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void TensorCoreKernelWithKeyBiasBiasAndCausalMatchesCpu(DType dt)
    {
        int B = 2, Nq = 70, Nk = 130, H = 2;
        var kb = Numerics.Random(B * Nk, 11, 0.5f);
        for (int j = 100; j < Nk; j++) kb[Nk + j] = -10000f;   // padded keys of batch 1, as PixArt masks text
        AssertClose(Run(new Problem(dt, B, Nq, Nk, H, 72) { KeyBias = kb }), dt, "key bias");
        AssertClose(Run(new Problem(dt, B, Nq, Nk, H, 64) { Bias = Numerics.Random(H * Nq * Nk, 12), Scale = 1f }), dt, "bias, scale 1");
        AssertClose(Run(new Problem(dt, B, Nq, Nq, H, 64) { Causal = true }), dt, "causal");
        AssertClose(Run(new Problem(dt, B, Nq, Nk, H, 64) { Causal = true }), dt, "causal, more keys than queries");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FullyMaskedRowsGiveZerosAndMinusInfinityLse(bool tensorCores)
    {
        int B = 2, N = 37;
        var kb = new float[B * N];
        for (int j = 0; j < N; j++) kb[N + j] = float.NegativeInfinity;   // batch 1 sees no key at all
        var r = Run(new Problem(DType.BF16, B, N, N, 2, 64) { KeyBias = kb }, tensorCores);
        AssertClose(r, DType.BF16, "fully masked batch");
        Assert.All(r.Output.Skip(r.Output.Length / 2), x => Assert.Equal(0f, x));
    }

    [Theory]
    [InlineData(QkvLayout.FusedQkv)]
    [InlineData(QkvLayout.Misaligned)]
    public void TensorCoreKernelTakesStridedAndMisalignedViews(QkvLayout layout)
    {
        var r = Run(new Problem(DType.BF16, 2, 29, 29, 3, 72) { Layout = layout });
        AssertClose(r, DType.BF16, layout.ToString());
    }

    [Theory]
    [InlineData(DType.F32, 64)]
    [InlineData(DType.F32, 512)]
    [InlineData(DType.BF16, 256)]
    [InlineData(DType.F16, 72)]
    public void GeneralKernelMatchesCpu(DType dt, int d)
    {
        var r = Run(new Problem(dt, 1, 77, 45, 2, d), tensorCores: false);
        Assert.Equal("flash_attention", r.Plan.Kernel);
        AssertClose(r, dt, $"{dt} d={d}");
        AssertClose(Run(new Problem(dt, 2, 37, 37, 2, d) { Causal = true, KeyBias = Numerics.Random(2 * 37, 13) }, tensorCores: false), dt, "causal, key bias");
    }

    // DiTFastAttn's window attention: windows inside one 64-key tile, across tiles, 0 (the diagonal alone) and past
    // every index; 200 tokens leave a partial query block and key tile, so the band's first and last tiles are ragged.
    [Theory]
    [InlineData(DType.BF16, 72, 0)]
    [InlineData(DType.BF16, 72, 5)]
    [InlineData(DType.F16, 64, 64)]
    [InlineData(DType.BF16, 128, 100)]
    [InlineData(DType.F16, 40, 500)]
    public void TensorCoreKernelWithAWindowMatchesCpu(DType dt, int d, int window)
    {
        var r = Run(new Problem(dt, 2, 200, 200, 2, d) { Window = window });
        Assert.StartsWith("flash_attention_tc_", r.Plan.Kernel);
        AssertClose(r, dt, $"window {window}");
        AssertClose(Run(new Problem(dt, 1, 150, 150, 2, d) { Window = window, Causal = true, KeyBias = Numerics.Random(150, 14) }), dt, $"window {window}, causal, key bias");
    }

    [Theory]
    [InlineData(DType.F32, 64, 0)]
    [InlineData(DType.F32, 72, 9)]
    [InlineData(DType.BF16, 256, 40)]
    [InlineData(DType.F16, 72, 1000)]
    public void GeneralKernelWithAWindowMatchesCpu(DType dt, int d, int window)
    {
        var r = Run(new Problem(dt, 2, 77, 77, 2, d) { Window = window }, tensorCores: false);
        Assert.Equal("flash_attention", r.Plan.Kernel);
        AssertClose(r, dt, $"window {window}");
        AssertClose(Run(new Problem(dt, 1, 50, 61, 1, d) { Window = window, Causal = true }, tensorCores: false), dt, $"window {window}, causal, Nk > Nq");
    }

    [Fact]
    public void PlanPicksTheTensorCoreKernelFor16BitHeadDimsUpTo128()
    {
        static KernelLaunch Plan(DType dt, int d, int nq = 4096, bool tc = true)
        {
            var a = new AttentionArgs { B = 2, H = 16, Nq = nq, Nk = 120, D = d, DType = (int)dt };
            return AttentionLaunch.Plan(a, tc);
        }
        Assert.Equal("flash_attention_tc_bf16_d80", Plan(DType.BF16, 72).Kernel);   // PixArt
        Assert.Equal("flash_attention_tc_f16_d64", Plan(DType.F16, 64).Kernel);     // SD3, T5, CLIP
        Assert.Equal("flash_attention_tc_bf16_d128", Plan(DType.BF16, 128).Kernel); // Flux
        Assert.Equal("flash_attention_tc_bf16_d32", Plan(DType.BF16, 8).Kernel);
        Assert.Equal("flash_attention", Plan(DType.BF16, 256).Kernel);
        Assert.Equal("flash_attention", Plan(DType.F32, 72).Kernel);
        Assert.Equal("flash_attention", Plan(DType.BF16, 72, tc: false).Kernel);
        var tcPlan = Plan(DType.BF16, 72, nq: 4097);
        Assert.Equal((65u, 32u, 128u), (tcPlan.GridX, tcPlan.GridY, tcPlan.BlockX));
        Assert.Equal((uint)(2 * 2 * 64 * 88 * 2), tcPlan.SharedBytes);   // 45 KiB: under 48 KiB, no opt-in needed
        Assert.Throws<NotSupportedException>(() => Plan(DType.F32, 513));
    }
}
