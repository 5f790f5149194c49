using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Tests.Cuda;

/// <summary>
/// Every CudaOps op against CpuOps (the float32 reference) on random inputs of realistic and awkward sizes (odd
/// lengths, head dim 72). Inputs are rounded to the activation dtype first, so the error measured is the GPU's
/// arithmetic and output rounding alone: ‖gpu − cpu‖/‖cpu‖ ≤ 1e-2 in BF16, 2e-3 in F16, 1e-5 in F32.
/// Skips (with the reason) where no CUDA device is present.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class CudaOpsTests
{
    static readonly CpuOps Cpu = new();

    sealed record Input(float[] Data, int[] Shape);

    static Input Rand(int seed, float scale, params int[] shape) => new(Numerics.Random((int)XDit.Runtime.Shape.Product(shape), seed, scale), shape);

    /// <summary>Runs <paramref name="op"/> on both backends and compares (tolerance scaled by <paramref name="tolScale"/>).</summary>
    static double Compare(DType dt, Func<IOps, Tensor[], Tensor> op, double tolScale, params Input[] inputs)
    {
        var gpu = CudaTestDevice.Get(dt);
        var q = inputs.Select(i => new Input(CudaTestDevice.Quantize(i.Data, dt), i.Shape)).ToArray();
        var cpuIn = q.Select(i => Cpu.FromHost(i.Data, i.Shape)).ToArray();
        var gpuIn = q.Select(i => gpu.FromHost(i.Data, i.Shape)).ToArray();
        try
        {
            using var want = op(Cpu, cpuIn);
            using var got = op(gpu, gpuIn);
            Assert.Equal(want.Dims, got.Dims);
            var w = Cpu.ToHost(want);
            var g = gpu.ToHost(got);
            double err = Numerics.RelativeError(g, w);
            double tol = CudaTestDevice.Tolerance(dt) * tolScale;
            Assert.True(err <= tol, $"{dt}: relative error {err:E3} > {tol:E1}");
            Assert.True(g.All(float.IsFinite), "non-finite output");
            return err;
        }
        finally
        {
            foreach (var t in cpuIn.Concat(gpuIn)) t.Dispose();
        }
    }

    static double Compare(DType dt, Func<IOps, Tensor[], Tensor> op, params Input[] inputs) => Compare(dt, op, 1, inputs);

    public static TheoryData<DType> DTypes => new(DType.F32, DType.F16, DType.BF16);

    // ---- GEMM ----

    [Theory, MemberData(nameof(DTypes))]
    public void LinearWithBiasMatchesCpu(DType dt)
    {
        Compare(dt, (o, t) => o.Linear(t[0], t[1], t[2]), Rand(1, 1, 3, 77, 72), Rand(2, 0.2f, 97, 72), Rand(3, 1, 97));
        Compare(dt, (o, t) => o.Linear(t[0], t[1]), Rand(4, 1, 5, 1152), Rand(5, 0.05f, 384, 1152));
    }

    [Theory]
    [InlineData(DType.BF16, Activation.GeluTanh)]
    [InlineData(DType.F32, Activation.GeluTanh)]
    [InlineData(DType.F32, Activation.Gelu)]
    [InlineData(DType.F32, Activation.Silu)]
    [InlineData(DType.F32, Activation.Relu)]
    [InlineData(DType.F16, Activation.QuickGelu)]
    public void LinearEpiloguesMatchCpu(DType dt, Activation act)
    {
        // GeluTanh goes through cuBLASLt's GELU epilogue: this is the check that it is the tanh form
        Compare(dt, (o, t) => o.Linear(t[0], t[1], t[2], act), Rand(6, 1, 2, 33, 64), Rand(7, 0.3f, 80, 64), Rand(8, 1, 80));
    }

    [Fact]
    public void LinearWithF32WeightOnBf16Activations()
    {
        var gpu = CudaTestDevice.Get(DType.BF16);
        var x = CudaTestDevice.Quantize(Numerics.Random(4 * 96, 9), DType.BF16);
        var w = Numerics.Random(40 * 96, 10, 0.2f);
        using var wh = Tensor.FromArray(w, 40, 96);
        using var wg = gpu.Upload(wh);
        Assert.Equal(DType.F32, wg.DType);
        using var xg = gpu.FromHost(x, 4, 96);
        using var xc = Cpu.FromHost(x, 4, 96);
        using var wc = Cpu.FromHost(CudaTestDevice.Quantize(w, DType.BF16), 40, 96);
        using var yg = gpu.Linear(xg, wg);
        using var yc = Cpu.Linear(xc, wc);
        Assert.True(Numerics.RelativeError(gpu.ToHost(yg), Cpu.ToHost(yc)) <= 1e-2);
    }

    [Theory, MemberData(nameof(DTypes))]
    public void MatMulBatchedMatchesCpu(DType dt)
    {
        Compare(dt, (o, t) => o.MatMul(t[0], t[1]), Rand(11, 1, 2, 3, 17, 40), Rand(12, 1, 2, 3, 40, 29));
        Compare(dt, (o, t) => o.MatMul(t[0], t[1], transposeB: true, alpha: 0.125f), Rand(13, 1, 4, 31, 72), Rand(14, 1, 4, 45, 72));
        Compare(dt, (o, t) => o.MatMul(t[0], t[1]), Rand(15, 1, 3, 9, 16), Rand(16, 1, 16, 7));   // shared 2-D b
    }

    // ---- norms ----

    [Theory, MemberData(nameof(DTypes))]
    public void NormsMatchCpu(DType dt)
    {
        Compare(dt, (o, t) => o.LayerNorm(t[0], t[1], t[2], 1e-6f), Rand(21, 2, 3, 37, 1152), Rand(22, 1, 1152), Rand(23, 1, 1152));
        Compare(dt, (o, t) => o.LayerNorm(t[0], null, null, 1e-6f), Rand(24, 3, 5, 77));
        Compare(dt, (o, t) => o.RmsNorm(t[0], t[1], 1e-6f), Rand(25, 1, 2, 9, 4, 72), Rand(26, 1, 72));
        Compare(dt, (o, t) => o.GroupNorm(t[0], 4, t[1], t[2], 1e-6f), Rand(27, 1, 2, 16, 7, 9), Rand(28, 1, 16), Rand(29, 1, 16));
        Compare(dt, (o, t) => o.Softmax(t[0]), Rand(30, 4, 3, 19, 333));
    }

    // ---- pointwise ----

    [Theory, MemberData(nameof(DTypes))]
    public void PointwiseMatchesCpu(DType dt)
    {
        foreach (var act in Enum.GetValues<Activation>())
            Compare(dt, (o, t) => o.Activate(t[0], act), Rand(31 + (int)act, 3, 7, 131));
        Compare(dt, (o, t) => o.Add(t[0], t[1]), Rand(41, 1, 2, 5, 33), Rand(42, 1, 33));
        Compare(dt, (o, t) => o.Mul(t[0], t[1]), Rand(43, 1, 2, 5, 33), Rand(44, 1, 2, 1, 33));
        Compare(dt, (o, t) => o.Add(t[0].Permute(1, 0, 2), t[1]), Rand(45, 1, 5, 2, 33), Rand(46, 1, 2, 5, 33));
        Compare(dt, (o, t) => o.Scale(t[0], 0.7f, -0.2f), Rand(47, 1, 3, 17));
        Compare(dt, (o, t) => o.Modulate(t[0], t[1], t[2]), Rand(48, 1, 2, 13, 72), Rand(49, 1, 2, 72), Rand(50, 0.5f, 2, 72));
        Compare(dt, (o, t) => o.Modulate(t[0], t[1], t[2]), Rand(51, 1, 2, 13, 72), Rand(52, 1, 72), Rand(53, 0.5f, 72));
        Compare(dt, (o, t) => o.GatedResidual(t[0], t[1], t[2]), Rand(54, 1, 2, 13, 72), Rand(55, 1, 2, 72), Rand(56, 1, 2, 13, 72));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void GegluMatchesCpu(DType dt)
    {
        // F a multiple of 8 (16-byte steps), F odd (element by element, steps across rows), a strided input
        Compare(dt, (o, t) => o.Geglu(t[0]), Rand(71, 2, 2, 13, 2 * 40));
        Compare(dt, (o, t) => o.Geglu(t[0]), Rand(72, 2, 3, 7, 2 * 37));
        Compare(dt, (o, t) => o.Geglu(t[0].Permute(1, 0, 2)), Rand(73, 2, 5, 2, 2 * 24));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void SwigluMatchesCpu(DType dt)
    {
        // as Geglu's cases: F a multiple of 8, F odd, a strided input
        Compare(dt, (o, t) => o.Swiglu(t[0]), Rand(74, 2, 2, 13, 2 * 40));
        Compare(dt, (o, t) => o.Swiglu(t[0]), Rand(75, 2, 3, 7, 2 * 37));
        Compare(dt, (o, t) => o.Swiglu(t[0].Permute(1, 0, 2)), Rand(76, 2, 5, 2, 2 * 24));
    }

    /// <summary>Wan's VAE norm over the channels of [B, C, T, H, W] (with its SiLU, and bare over a strided view).</summary>
    [Theory, MemberData(nameof(DTypes))]
    public void ChannelRmsNormMatchesCpu(DType dt)
    {
        Compare(dt, (o, t) => o.ChannelRmsNorm(t[0], t[1], 1e-6f, Activation.Silu), Rand(77, 1, 2, 96, 3, 5, 7), Rand(78, 1, 96));
        Compare(dt, (o, t) => o.ChannelRmsNorm(t[0].Permute(1, 0, 2, 3), null, 1e-24f), Rand(79, 1, 3, 2, 6, 5));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void GroupNormWithSiluMatchesCpu(DType dt) =>
        Compare(dt, (o, t) => o.GroupNorm(t[0], 4, t[1], t[2], 1e-6f, Activation.Silu), Rand(74, 1, 2, 16, 7, 9), Rand(75, 1, 16), Rand(76, 1, 16));

    [Theory, MemberData(nameof(DTypes))]
    public void RopeMatchesCpu(DType dt)
    {
        foreach (bool interleaved in new[] { true, false })
            Compare(dt, (o, t) => o.Rope(t[0], t[1], t[2], interleaved), Rand(61, 1, 2, 11, 3, 72), Rand(62, 1, 11, 72), Rand(63, 1, 11, 72));
    }

    // ---- attention ----

    [Theory]
    [InlineData(DType.F32, 64)]
    [InlineData(DType.F32, 72)]
    [InlineData(DType.F32, 128)]
    [InlineData(DType.BF16, 72)]
    [InlineData(DType.BF16, 128)]
    [InlineData(DType.F16, 64)]
    [InlineData(DType.F16, 72)]
    [InlineData(DType.BF16, 20)]
    [InlineData(DType.BF16, 256)]
    [InlineData(DType.F32, 512)]
    public void AttentionMatchesCpu(DType dt, int d)
    {
        // the general kernel's 8 queries × 32 keys per block: 10 query blocks and 2 key tiles, the last of each partial
        Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2]), Rand(71, 1, 2, 77, 3, d), Rand(72, 1, 2, 45, 3, d), Rand(73, 1, 2, 45, 3, d));
        // several query blocks and key tiles of the tensor-core kernel (64 x 64), where this dtype and head dim take it;
        // the general kernel's blocks and tiles are walked by the case above (this one is 10 times its work, most of
        // this test's time on the emulator)
        if (AttentionLaunch.UsesTensorCores(dt, d))
            Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2]), Rand(74, 1, 1, 300, 2, d), Rand(75, 1, 1, 333, 2, d), Rand(76, 1, 1, 333, 2, d));
    }

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void TensorCoreAndGeneralAttentionKernelsAgree(DType dt)
    {
        // PixArt's shape at a small image, 1024 tokens with head dim 72 (fewer tokens on the CPU emulator)
        var gpu = CudaTestDevice.Get(dt);
        int tokens = Emulation.EmulatedCuda.Active ? 200 : 1024, n = tokens * 4 * 72;
        using var q = gpu.FromHost(Numerics.Random(n, 77), 1, tokens, 4, 72);
        using var k = gpu.FromHost(Numerics.Random(n, 78), 1, tokens, 4, 72);
        using var v = gpu.FromHost(Numerics.Random(n, 79), 1, tokens, 4, 72);
        AgreesWithTheGeneralKernel(gpu, dt, q, k, v, on => gpu.TensorCoreAttention = on, "tensor-core");
    }

    /// <summary>Attention on the path CudaOps picks, then, with <paramref name="usePath"/>(false), on the general
    /// kernel from the same inputs: the two agree within the dtype's tolerance.</summary>
    static void AgreesWithTheGeneralKernel(CudaOps gpu, DType dt, Tensor q, Tensor k, Tensor v, Action<bool> usePath, string path)
    {
        using var picked = gpu.Attention(q, k, v);
        usePath(false);
        try
        {
            using var general = gpu.Attention(q, k, v);
            Assert.True(Numerics.RelativeError(gpu.ToHost(picked), gpu.ToHost(general)) <= CudaTestDevice.Tolerance(dt), $"{path} vs general kernel");
        }
        finally { usePath(true); }
    }

    [Theory]
    [InlineData(DType.BF16, 256)]
    [InlineData(DType.F16, 512)]   // the VAE's one head
    [InlineData(DType.BF16, 640)]  // beyond the general kernel's 512
    [InlineData(DType.F32, 640)]
    public void AttentionByGemmsMatchesCpuInChunksOfQueries(DType dt, int d)
    {
        var gpu = CudaTestDevice.Get(dt);
        Assert.True(gpu.UsesAttentionByGemm(dt, d, new AttentionOptions(), wantsLse: false));
        long chunk = gpu.AttentionGemmChunkBytes;
        gpu.AttentionGemmChunkBytes = 30 * 130 * 6;   // 30 query rows of 130 keys at a time (22 in f32): 70 rows take 3 or 4 chunks
        try
        {
            // a fused-QKV view too: q, k, v are strided slices of one [B, N, 3, H, d] tensor
            Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2]), Rand(81, 1, 2, 70, 2, d), Rand(82, 1, 2, 130, 2, d), Rand(83, 1, 2, 130, 2, d));
            Compare(dt, (o, t) =>
                o.Attention(t[0].Slice(2, 0, 1).Reshape2(1, 50, 2, d), t[0].Slice(2, 1, 1).Reshape2(1, 50, 2, d), t[0].Slice(2, 2, 1).Reshape2(1, 50, 2, d)),
                Rand(84, 1, 1, 50, 3, 2, d));
        }
        finally { gpu.AttentionGemmChunkBytes = chunk; }
        if (d <= AttentionLaunch.MaxHeadDim)
        {
            using var q = gpu.FromHost(CudaTestDevice.Quantize(Numerics.Random(40 * 2 * d, 85), dt), 1, 40, 2, d);
            AgreesWithTheGeneralKernel(gpu, dt, q, q, q, on => gpu.AttentionByGemm = on, "GEMM path");
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void AttentionWithBiasesCausalAndLseMatchesCpu(DType dt)
    {
        int B = 2, N = 37, H = 2, d = 72;
        var kb = new float[B * N];
        for (int j = 30; j < N; j++) kb[N + j] = -10000f;   // padded keys of batch 1, as PixArt masks text
        var keyBias = new Input(kb, [B, N]);
        Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2], new AttentionOptions { KeyBias = t[3] }),
            Rand(81, 1, B, N, H, d), Rand(82, 1, B, N, H, d), Rand(83, 1, B, N, H, d), keyBias);
        // one key-bias row shared by every batch ([1, Nk]): the kernels read it with a zero batch stride
        Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2], new AttentionOptions { KeyBias = t[3] }),
            Rand(81, 1, B, N, H, d), Rand(82, 1, B, N, H, d), Rand(83, 1, B, N, H, d), new Input(kb[N..], [1, N]));
        Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2], new AttentionOptions { Bias = t[3], Scale = 1f }),
            Rand(84, 1, B, N, H, 64), Rand(85, 1, B, N, H, 64), Rand(86, 1, B, N, H, 64), Rand(87, 2, 1, H, N, N));
        Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2], new AttentionOptions { Causal = true }),
            Rand(88, 1, B, N, H, 64), Rand(89, 1, B, N, H, 64), Rand(90, 1, B, N, H, 64));
        // DiTFastAttn's band window, on PixArt's head dim and on the VAE's 512 (which otherwise goes the GEMM way)
        Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2], new AttentionOptions { Window = 9 }),
            Rand(91, 1, B, 150, H, d), Rand(92, 1, B, 150, H, d), Rand(93, 1, B, 150, H, d));
        Compare(dt, (o, t) => o.Attention(t[0], t[1], t[2], new AttentionOptions { Window = 3 }),
            Rand(94, 1, 1, N, 1, 512), Rand(95, 1, 1, N, 1, 512), Rand(96, 1, 1, N, 1, 512));

        // lse and merge: attention over keys [0, 20) merged with [20, N) equals attention over all keys
        var gpu = CudaTestDevice.Get(dt);
        var q = CudaTestDevice.Quantize(Numerics.Random(B * N * H * d, 91), dt);
        var k = CudaTestDevice.Quantize(Numerics.Random(B * N * H * d, 92), dt);
        var v = CudaTestDevice.Quantize(Numerics.Random(B * N * H * d, 93), dt);
        using var qg = gpu.FromHost(q, B, N, H, d);
        using var kg = gpu.FromHost(k, B, N, H, d);
        using var vg = gpu.FromHost(v, B, N, H, d);
        using var lse1 = gpu.Empty(DType.F32, B, H, N);
        using var lse2 = gpu.Empty(DType.F32, B, H, N);
        using var o1 = gpu.Attention(qg, kg.Slice(1, 0, 20), vg.Slice(1, 0, 20), null, lse1);
        using var o2 = gpu.Attention(qg, kg.Slice(1, 20, N - 20), vg.Slice(1, 20, N - 20), null, lse2);
        gpu.MergeAttention(o1, lse1, o2, lse2);
        using var lseAll = gpu.Empty(DType.F32, B, H, N);
        using var all = gpu.Attention(qg, kg, vg, null, lseAll);
        using var qc = Cpu.FromHost(q, B, N, H, d);
        using var kc = Cpu.FromHost(k, B, N, H, d);
        using var vc = Cpu.FromHost(v, B, N, H, d);
        using var lseCpu = Cpu.Empty(DType.F32, B, H, N);
        using var ref_ = Cpu.Attention(qc, kc, vc, null, lseCpu);
        Assert.True(Numerics.RelativeError(gpu.ToHost(o1), Cpu.ToHost(ref_)) <= CudaTestDevice.Tolerance(dt) * 2, "merged output");
        Assert.True(Numerics.RelativeError(gpu.ToHost(lse1), Cpu.ToHost(lseCpu)) <= 1e-4, "merged lse");
        Assert.True(Numerics.RelativeError(gpu.ToHost(lseAll), Cpu.ToHost(lseCpu)) <= 1e-4, "lse");
    }

    [Fact]
    public void AttentionOnStridedViewsOfAFusedQkv()
    {
        // q, k, v sliced out of one [B, N, 3, H, d] tensor, as a fused QKV projection produces them
        int B = 2, N = 29, H = 3, d = 72;
        var dt = DType.BF16;
        Compare(dt, (o, t) =>
        {
            var qkv = t[0];
            var q = qkv.Slice(2, 0, 1).Reshape2(B, N, H, d);
            var k = qkv.Slice(2, 1, 1).Reshape2(B, N, H, d);
            var v = qkv.Slice(2, 2, 1).Reshape2(B, N, H, d);
            return o.Attention(q, k, v);
        }, Rand(95, 1, B, N, 3, H, d));
    }

    // ---- convolution, resampling, layout ----

    [Theory, MemberData(nameof(DTypes))]
    public void Conv2dMatchesCpu(DType dt)
    {
        Compare(dt, (o, t) => o.Conv2d(t[0], t[1], t[2], 1, 1), Rand(101, 1, 2, 5, 9, 11), Rand(102, 0.3f, 7, 5, 3, 3), Rand(103, 1, 7));
        Compare(dt, (o, t) => o.Conv2d(t[0], t[1], null, 2, 0), Rand(104, 1, 1, 4, 16, 16), Rand(105, 0.3f, 8, 4, 2, 2));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void Conv2dWithAResidualMatchesCpu(DType dt)
    {
        // a residual of the output's shape (the ResNets' shortcut, here strided), one per batch and channel (their
        // time embedding), and a residual without a bias
        Compare(dt, (o, t) => o.Conv2d(t[0], t[1], t[2], 1, 1, t[3].Permute(0, 1, 3, 2)), Rand(141, 1, 2, 5, 9, 11), Rand(142, 0.3f, 7, 5, 3, 3), Rand(143, 1, 7), Rand(144, 1, 2, 7, 11, 9));
        Compare(dt, (o, t) => o.Conv2d(t[0], t[1], t[2], 1, 1, t[3]), Rand(145, 1, 2, 5, 9, 11), Rand(146, 0.3f, 7, 5, 3, 3), Rand(147, 1, 7), Rand(148, 1, 2, 7, 1, 1));
        Compare(dt, (o, t) => o.Conv2d(t[0], t[1], null, 1, 0, t[2]), Rand(149, 1, 1, 9, 5, 7), Rand(150, 0.3f, 3, 9, 1, 1), Rand(151, 1, 1, 3, 5, 7));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void GroupedConv2dMatchesCpu(DType dt)
    {
        // depth-wise 3×3 with bias (GLUMBConv), depth-wise 5×5 on a strided input, grouped 1×1 (DC-AE's proj_out)
        Compare(dt, (o, t) => o.GroupedConv2d(t[0], t[1], t[2], 10, 1), Rand(121, 1, 2, 10, 6, 9), Rand(122, 0.3f, 10, 1, 3, 3), Rand(123, 1, 10));
        Compare(dt, (o, t) => o.GroupedConv2d(t[0].Permute(0, 1, 3, 2), t[1], null, 4, 2), Rand(124, 1, 1, 4, 7, 5), Rand(125, 0.3f, 4, 1, 5, 5));
        Compare(dt, (o, t) => o.GroupedConv2d(t[0], t[1], null, 3, 0), Rand(126, 1, 2, 12, 4, 5), Rand(127, 0.3f, 6, 4, 1, 1));
        // tokens [B, H·W, C] seen as [B, C, H, W] (SANA's Mix-FFN): a permuted view, read through its strides
        Compare(dt, (o, t) => o.GroupedConv2d(t[0].Reshape(2, 3, 5, 6).Permute(0, 3, 1, 2), t[1], t[2], 6, 1), Rand(128, 1, 2, 15, 6), Rand(129, 0.3f, 6, 1, 3, 3), Rand(130, 1, 6));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void LinearAttentionMatchesCpu(DType dt)
    {
        // the sums alone (float32 whatever the dtype), then sums and apply; head dims 8 and 32, a strided k,
        // enough tokens that the sums kernel walks several tiles (tile 64 at D = 32)
        Compare(dt, (o, t) => o.LinearAttentionSums(t[0], t[1]), Rand(131, 1, 2, 13, 3, 8), Rand(132, 1, 2, 13, 3, 8));
        Compare(dt, (o, t) =>
        {
            // q, k and v as views of one stacked projection [B, N, 3, H, D], read in place through their strides
            using var s = o.LinearAttentionSums(t[0].Select(2, 1), t[0].Select(2, 2));
            return o.LinearAttentionApply(t[0].Select(2, 0), s, 1e-15f);
        }, Rand(133, 1, 2, 13, 3, 3, 8));
        Compare(dt, (o, t) =>
        {
            using var s = o.LinearAttentionSums(t[1].Permute(0, 2, 1, 3), t[2]);
            return o.LinearAttentionApply(t[0], s, 1e-15f);
        }, Rand(136, 1, 1, 150, 2, 32), Rand(137, 1, 1, 2, 150, 32), Rand(138, 1, 1, 150, 2, 32));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void Conv2dByGemmMatchesCpu(DType dt)
    {
        // the path taken without cuDNN; 1 KiB of columns at a time, so every image is walked in several chunks
        var gpu = CudaTestDevice.Get(dt);
        var (viaCudnn, chunkBytes, before) = (gpu.ConvolutionViaCudnn, gpu.ConvolutionGemmChunkBytes, gpu.GemmConvolutions);
        gpu.ConvolutionViaCudnn = false;
        gpu.ConvolutionGemmChunkBytes = 1024;
        try
        {
            Compare(dt, (o, t) => o.Conv2d(t[0], t[1], t[2], 1, 1), Rand(101, 1, 2, 5, 9, 11), Rand(102, 0.3f, 7, 5, 3, 3), Rand(103, 1, 7));
            Compare(dt, (o, t) => o.Conv2d(t[0], t[1], null, 2, 0), Rand(104, 1, 1, 4, 16, 16), Rand(105, 0.3f, 8, 4, 2, 2));
            Compare(dt, (o, t) => o.Conv2d(t[0], t[1], t[2], 2, 1), Rand(106, 1, 2, 3, 13, 10), Rand(107, 0.3f, 6, 3, 3, 3), Rand(108, 1, 6));
            Compare(dt, (o, t) => o.Conv2d(t[0], t[1], t[2]), Rand(109, 1, 1, 9, 5, 7), Rand(110, 0.3f, 3, 9, 1, 1), Rand(111, 1, 3));
            Assert.Equal(before + 4, gpu.GemmConvolutions);
        }
        finally
        {
            (gpu.ConvolutionViaCudnn, gpu.ConvolutionGemmChunkBytes) = (viaCudnn, chunkBytes);
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void LayoutOpsMatchCpu(DType dt)
    {
        Compare(dt, (o, t) => o.Upsample2x(t[0]), Rand(111, 1, 2, 3, 5, 7));
        // the kernel (sizes other than 2×, through a transposed view too) and the 2× form (Upsample2x's copy)
        Compare(dt, (o, t) => o.UpsampleNearest(t[0], 9, 13), Rand(111, 1, 2, 3, 5, 7));
        Compare(dt, (o, t) => o.UpsampleNearest(t[0].Permute(0, 1, 3, 2), 13, 4), Rand(111, 1, 2, 3, 5, 7));
        Compare(dt, (o, t) => o.UpsampleNearest(t[0], 10, 14), Rand(111, 1, 2, 3, 5, 7));
        foreach (bool cf in new[] { true, false })
        {
            Compare(dt, (o, t) => o.Patchify(t[0], 2, cf), Rand(112, 1, 2, 4, 6, 10));
            Compare(dt, (o, t) => o.Unpatchify(t[0], 2, 4, 3, 5, cf), Rand(113, 1, 2, 15, 16));
        }
        Compare(dt, (o, t) => o.Concat(1, t[0], t[1]), Rand(114, 1, 2, 3, 5), Rand(115, 1, 2, 4, 5));
        Compare(dt, (o, t) => o.Contiguous(t[0].Permute(2, 0, 1).Slice(1, 1, 3)), Rand(116, 1, 4, 5, 6));
        Compare(dt, (o, t) => o.Cast(t[0], DType.F32), Rand(117, 1, 3, 7));
    }

    [Fact]
    public void CopyConvertsDtypesAndEmbeddingGathers()
    {
        var gpu = CudaTestDevice.Get(DType.BF16);
        var x = Numerics.Random(6 * 9, 121);
        using var xg = gpu.FromHost(x, 6, 9);
        using var dst = gpu.Zeros(DType.F16, 9, 6);
        gpu.Copy(dst, xg.Permute(1, 0));
        var back = gpu.ToHost(dst);
        using var xc = Cpu.FromHost(CudaTestDevice.Quantize(x, DType.BF16), 6, 9);
        Assert.True(Numerics.RelativeError(back, xc.Permute(1, 0).ToFloatArray()) <= 2e-3);

        var table = Numerics.Random(50 * 24, 122);
        using var th = Tensor.FromArray(table, 50, 24);
        using var tg = gpu.Upload(th);
        long[] ids = [3, 49, 0, 3, 17];
        using var eg = gpu.Embedding(tg, ids);
        using var ec = Cpu.Embedding(th, ids);
        Assert.True(Numerics.RelativeError(gpu.ToHost(eg), Cpu.ToHost(ec)) <= 1e-2);
        Assert.Throws<ArgumentOutOfRangeException>(() => gpu.Embedding(tg, [50]));

        float[] ts = [0, 1, 999, 500.5f];
        using var tg2 = gpu.TimestepEmbedding(ts, 257, true, 1f);
        using var tc2 = Cpu.TimestepEmbedding(ts, 257, true, 1f);
        Assert.Equal(Cpu.ToHost(tc2), gpu.ToHost(tg2));
    }

    [Fact]
    public void StridedSameDtypeCopiesAreExactForLargeIntegers()
    {
        // values above 2^24 would be rounded by a float round trip
        var gpu = CudaTestDevice.Get(DType.BF16);
        long[] ids = [(1L << 40) + 1, 3, (1L << 24) + 1, -7, long.MaxValue - 5, 16_777_217];
        using var host = new Tensor(new HostStorage(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids.AsSpan()).ToArray()), DType.I64, [2, 3]);
        using var g = gpu.Upload(host);
        using var t = gpu.Contiguous(g.Permute(1, 0));
        var back = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(gpu.DownloadBytes(t)).ToArray();
        Assert.Equal(new long[] { ids[0], ids[3], ids[1], ids[4], ids[2], ids[5] }, back);
    }

    // ---- runtime behaviour ----

    [Fact]
    public void ArenaAllocatesNothingNewAfterTheFirstPass()
    {
        var gpu = CudaTestDevice.Get(DType.BF16);
        var x = Numerics.Random(2 * 33 * 64, 131);
        var w = Numerics.Random(64 * 64, 132, 0.1f);
        using var xg = gpu.FromHost(x, 2, 33, 64);
        using var wg = gpu.FromHost(w, 64, 64);
        void Pass()
        {
            using var h = gpu.Linear(xg, wg, null, Activation.GeluTanh);
            using var n = gpu.LayerNorm(h, null, null, 1e-6f);
            using var q = n.Reshape(2, 33, 2, 32);
            using var a = gpu.Attention(q, q, q);
        }
        Pass();
        long fresh = gpu.Arena.FreshAllocations;
        Pass();
        Pass();
        Assert.Equal(fresh, gpu.Arena.FreshAllocations);
    }

    [Fact]
    public void ACapturedGraphReplaysKernelsAndGemmsOnNewInputs()
    {
        // stream capture and graphs (CudaStream.BeginCapture, CudaGraph): a Linear with bias and GELU (cuBLASLt),
        // a LayerNorm and a Softmax (NVRTC kernels) recorded once, replayed after the input changed in place
        var gpu = CudaTestDevice.Get(DType.F32);
        var w = Numerics.Random(48 * 40, 141, 0.2f);
        var b = Numerics.Random(48, 142);
        using var xg = gpu.FromHost(Numerics.Random(3 * 40, 143), 3, 40);
        using var wg = gpu.FromHost(w, 48, 40);
        using var bg = gpu.FromHost(b, 48);
        using var wc = Cpu.FromHost(w, 48, 40);
        using var bc = Cpu.FromHost(b, 48);
        Tensor Forward(IOps o, Tensor x)
        {
            using var h = o.Linear(x, o == Cpu ? wc : wg, o == Cpu ? bc : bg, Activation.GeluTanh);
            using var n = o.LayerNorm(h, null, null, 1e-6f);
            return o.Softmax(n);
        }
        // a warm-up pass compiles the kernels, builds the GEMM plan and leaves the arena holding every block the
        // captured pass needs, so nothing calls cuMemAlloc while capturing (CUDA refuses it)
        Forward(gpu, xg).Dispose();
        gpu.Synchronize();
        gpu.Stream.BeginCapture();
        Tensor y;
        CudaGraph graph;
        try { y = Forward(gpu, xg); }
        finally { graph = gpu.Stream.EndCapture(); }
        using (y)
        using (graph)
        using (var exec = graph.Instantiate())
        {
            foreach (int seed in new[] { 144, 145 })
            {
                var x = Numerics.Random(3 * 40, seed);
                using (var fresh = gpu.FromHost(x, 3, 40)) gpu.Copy(xg, fresh);
                exec.Launch(gpu.Stream);
                using var xc = Cpu.FromHost(x, 3, 40);
                using var want = Forward(Cpu, xc);
                double err = Numerics.RelativeError(gpu.ToHost(y), Cpu.ToHost(want));
                Assert.True(err <= 1e-5, $"replay with input {seed}: relative error {err:E3}");
            }
        }
    }

    [Fact]
    public void WorkCapturedInAPoolReplaysOnNewInputsWhileOtherWorkReusesTheCommonCache()
    {
        // CudaOps.RunInPool + Capture (what CudaGraphExecutor does each step): the warm-up fills the pool, the
        // capture takes every block from it, and eager work between replays cannot be handed the graph's blocks
        var gpu = CudaTestDevice.Get(DType.F32);
        var w = Numerics.Random(32 * 24, 151, 0.2f);
        using var wg = gpu.FromHost(w, 32, 24);
        using var wc = Cpu.FromHost(w, 32, 24);
        using var xg = gpu.FromHost(Numerics.Random(5 * 24, 152), 5, 24);
        Tensor Forward(IOps o, Tensor x)
        {
            using var h = o.Linear(x, o == Cpu ? wc : wg, null, Activation.GeluTanh);
            using var n = o.LayerNorm(h, null, null, 1e-6f);
            return o.Softmax(n);
        }
        using var pool = gpu.Arena.NewPool();
        gpu.RunInPool(pool, () => Forward(gpu, xg)).Dispose();
        Assert.True(pool.CachedBytes > 0);
        using var graph = gpu.Capture(pool, () => Forward(gpu, xg));
        Assert.False(gpu.Stream.IsCapturing);
        foreach (int seed in new[] { 153, 154 })
        {
            var x = Numerics.Random(5 * 24, seed);
            using (var fresh = gpu.FromHost(x, 5, 24)) gpu.Copy(xg, fresh);
            // eager work of the same sizes between replays: from the common cache, not the graph's temporaries
            using var otherX = gpu.FromHost(Numerics.Random(5 * 24, seed + 10), 5, 24);
            using var other = Forward(gpu, otherX);
            var otherBefore = gpu.ToHost(other);
            graph.Replay();
            Assert.Equal(otherBefore, gpu.ToHost(other));   // the replay wrote only its own blocks
            using var xc = Cpu.FromHost(x, 5, 24);
            using var want = Forward(Cpu, xc);
            double err = Numerics.RelativeError(gpu.ToHost(graph.Output), Cpu.ToHost(want));
            Assert.True(err <= 1e-5, $"replay with input {seed}: relative error {err:E3}");
        }
    }

    [Fact]
    public void WorkAGraphCannotHoldFailsItsCaptureAndLeavesTheStreamEager()
    {
        var gpu = CudaTestDevice.Get(DType.F32);
        using var x = gpu.FromHost(Numerics.Random(64, 161), 4, 16);
        Tensor TalksToTheHost()
        {
            using var y = gpu.Softmax(x);
            gpu.ToHost(y);
            return gpu.Softmax(y);
        }
        // a host transfer inside the captured work (eagerly, in the warm-up, it is fine)
        using var pool = gpu.Arena.NewPool();
        gpu.RunInPool(pool, TalksToTheHost).Dispose();
        var e = Assert.Throws<XDit.Runtime.Cuda.GraphCaptureException>(() => gpu.Capture(pool, TalksToTheHost));
        Assert.Contains("ToHost while a CUDA graph is being captured", e.Message);
        Assert.False(gpu.Stream.IsCapturing);
        // an allocation no warm-up made (this pool never had one)
        using var empty = gpu.Arena.NewPool();
        e = Assert.Throws<XDit.Runtime.Cuda.GraphCaptureException>(() => gpu.Capture(empty, () => gpu.Softmax(x)));
        Assert.Contains("no cached block of", e.Message);
        Assert.False(gpu.Stream.IsCapturing);
        using var after = gpu.Softmax(x);
        Assert.True(gpu.ToHost(after).All(float.IsFinite));
    }

    [Fact]
    public void SecondCompilerLoadsEveryKernelFromTheDiskCache()
    {
        CudaTestDevice.RequireDevice();
        var dir = TestPaths.TempDir();
        var info = XDit.Runtime.Cuda.CudaDevice.Query(0);
        var first = new XDit.Runtime.Cuda.NvrtcCompiler(info.Arch, dir);
        foreach (var m in KernelSources.Modules) first.Compile(m, KernelSources.Source(m), KernelSources.Headers);
        Assert.Equal(KernelSources.Modules.Count, first.Compilations);
        var second = new XDit.Runtime.Cuda.NvrtcCompiler(info.Arch, dir);
        foreach (var m in KernelSources.Modules) Assert.NotEmpty(second.Compile(m, KernelSources.Source(m), KernelSources.Headers));
        Assert.Equal(0, second.Compilations);
    }

    [Fact]
    public void HostTensorsAreRejectedWithAClearMessage()
    {
        var gpu = CudaTestDevice.Get(DType.BF16);
        using var x = Tensor.FromArray(new float[] { 1, 2, 3 }, 1, 3);
        var e = Assert.Throws<ArgumentException>(() => gpu.Scale(x, 2f));
        Assert.Contains("Upload", e.Message);
    }
}

static class ViewExtensions
{
    /// <summary>Drops the size-1 axis 2 of a [B, N, 1, H, d] slice without copying.</summary>
    public static Tensor Reshape2(this Tensor t, int b, int n, int h, int d)
    {
        var s = t.Strides;
        return new Tensor(t.Storage, t.DType, [b, n, h, d], [s[0], s[1], s[3], s[4]], t.Offset);
    }
}
