using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Runtime;

namespace XDit.Tests.Cuda;

/// <summary>
/// The fused and bandwidth kernels against the unfused composition on CpuOps (the float32 reference): LayerNorm +
/// modulate, the residual + next norm, modulation chunks read in place from a packed [B, k·D] tensor, and copies
/// whose views merge into rows. Row lengths take both kernel paths: multiples of 8 (16-byte steps) and odd ones
/// (element by element); 1536 is SD3-medium's width. Inputs are rounded to the activation dtype first.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class CudaFusedOpsTests
{
    static readonly CpuOps Cpu = new();

    public static TheoryData<DType> DTypes => new(DType.F32, DType.F16, DType.BF16);

    /// <summary><paramref name="fused"/> on the CUDA backend against <paramref name="unfused"/> on CpuOps, from the
    /// same inputs; every output pair compared by relative error.</summary>
    static void Compare(DType dt, Func<IOps, Tensor[], Tensor[]> fused, Func<IOps, Tensor[], Tensor[]> unfused, params (int Seed, float Scale, int[] Shape)[] inputs)
    {
        var gpu = CudaTestDevice.Get(dt);
        var data = inputs.Select(i => CudaTestDevice.Quantize(Numerics.Random((int)Shape.Product(i.Shape), i.Seed, i.Scale), dt)).ToArray();
        var cpuIn = inputs.Select((i, k) => Cpu.FromHost(data[k], i.Shape)).ToArray();
        var gpuIn = inputs.Select((i, k) => gpu.FromHost(data[k], i.Shape)).ToArray();
        try
        {
            var want = unfused(Cpu, cpuIn);
            var got = fused(gpu, gpuIn);
            try
            {
                Assert.Equal(want.Length, got.Length);
                for (int o = 0; o < want.Length; o++)
                {
                    Assert.Equal(want[o].Dims, got[o].Dims);
                    var g = gpu.ToHost(got[o]);
                    double err = Numerics.RelativeError(g, Cpu.ToHost(want[o]));
                    Assert.True(err <= CudaTestDevice.Tolerance(dt), $"{dt} output {o}: relative error {err:E3}");
                    Assert.True(g.All(float.IsFinite), "non-finite output");
                }
            }
            finally
            {
                foreach (var t in want.Concat(got)) t.Dispose();
            }
        }
        finally
        {
            foreach (var t in cpuIn.Concat(gpuIn)) t.Dispose();
        }
    }

    /// <summary>Chunk <paramref name="i"/> of a packed modulation [B, k·D]: a strided [B, D] view.</summary>
    static Tensor Chunk(Tensor packed, int i, int d) => packed.Slice(1, i * d, d);

    [Theory, MemberData(nameof(DTypes))]
    public void LayerNormModulateEqualsLayerNormThenModulate(DType dt)
    {
        foreach (int d in new[] { 72, 77, 1536 })
        {
            // shift and scale read in place from a packed [B, 6·D] modulation
            Compare(dt,
                (o, t) => [o.LayerNormModulate(t[0], Chunk(t[1], 3, d), Chunk(t[1], 4, d), 1e-6f)],
                (o, t) =>
                {
                    using var n = o.LayerNorm(t[0], null, null, 1e-6f);
                    return [o.Modulate(n, o.Contiguous(Chunk(t[1], 3, d)), o.Contiguous(Chunk(t[1], 4, d)))];
                },
                (1, 2, [2, 13, d]), (2, 0.5f, [2, 6 * d]));
            // one shift and scale for every batch
            Compare(dt,
                (o, t) => [o.LayerNormModulate(t[0], t[1], t[2], 1e-5f)],
                (o, t) => { using var n = o.LayerNorm(t[0], null, null, 1e-5f); return [o.Modulate(n, t[1], t[2])]; },
                (3, 1, [3, 5, d]), (4, 0.5f, [d]), (5, 0.5f, [d]));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void RmsNormModulateEqualsRmsNormThenModulate(DType dt)
    {
        foreach (int d in new[] { 72, 77, 1536 })
        {
            // LTX's form: a weight, shift and scale read in place from a packed [B, 6·D] modulation
            Compare(dt,
                (o, t) => [o.RmsNormModulate(t[0], t[2], Chunk(t[1], 0, d), Chunk(t[1], 1, d), 1e-6f)],
                (o, t) =>
                {
                    using var n = o.RmsNorm(t[0], t[2], 1e-6f);
                    return [o.Modulate(n, o.Contiguous(Chunk(t[1], 0, d)), o.Contiguous(Chunk(t[1], 1, d)))];
                },
                (1, 2, [2, 13, d]), (2, 0.5f, [2, 6 * d]), (3, 1, [d]));
            // Mochi's and Z-Image's: no shift, no weight, one scale [B, 1, D] per batch
            Compare(dt,
                (o, t) => [o.RmsNormModulate(t[0], null, null, t[1], 1e-5f)],
                (o, t) =>
                {
                    using var n = o.RmsNorm(t[0], null, 1e-5f);
                    using var zero = o.Zeros(DType.F32, 3, 1, d);
                    return [o.Modulate(n, zero, t[1])];
                },
                (4, 1, [3, 5, d]), (5, 0.5f, [3, 1, d]));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void ResidualLayerNormModulateEqualsResidualThenNorm(DType dt)
    {
        foreach (int d in new[] { 72, 77, 1536 })
        {
            Compare(dt,
                (o, t) => { var (r, n) = o.ResidualLayerNormModulate(t[0], Chunk(t[2], 2, d), t[1], Chunk(t[2], 3, d), Chunk(t[2], 4, d), 1e-6f); return [r, n]; },
                (o, t) =>
                {
                    var r = o.GatedResidual(t[0], o.Contiguous(Chunk(t[2], 2, d)), t[1]);
                    using var ln = o.LayerNorm(r, null, null, 1e-6f);
                    return [r, o.Modulate(ln, o.Contiguous(Chunk(t[2], 3, d)), o.Contiguous(Chunk(t[2], 4, d)))];
                },
                (11, 1, [2, 9, d]), (12, 1, [2, 9, d]), (13, 0.5f, [2, 6 * d]));
            // no gate: PixArt's cross-attention residual
            Compare(dt,
                (o, t) => { var (r, n) = o.ResidualLayerNormModulate(t[0], null, t[1], t[2], t[3], 1e-6f); return [r, n]; },
                (o, t) =>
                {
                    var r = o.Add(t[0], t[1]);
                    using var ln = o.LayerNorm(r, null, null, 1e-6f);
                    return [r, o.Modulate(ln, t[2], t[3])];
                },
                (14, 1, [2, 7, d]), (15, 1, [2, 7, d]), (16, 0.5f, [2, d]), (17, 0.5f, [1, d]));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void ModulateAndGatedResidualReadPackedChunksInPlace(DType dt)
    {
        foreach (int d in new[] { 72, 77 })
        {
            Compare(dt,
                (o, t) => [o.Modulate(t[0], Chunk(t[1], 0, d), Chunk(t[1], 1, d)), o.GatedResidual(t[0], Chunk(t[1], 2, d), t[2])],
                (o, t) => [o.Modulate(t[0], o.Contiguous(Chunk(t[1], 0, d)), o.Contiguous(Chunk(t[1], 1, d))),
                           o.GatedResidual(t[0], o.Contiguous(Chunk(t[1], 2, d)), t[2])],
                (21, 1, [2, 11, d]), (22, 0.5f, [2, 3 * d]), (23, 1, [2, 11, d]));
            // x + gate·(y + y2): a projection of a concatenation as the sum of its parts' products
            Compare(dt,
                (o, t) => [o.GatedResidual(t[0], Chunk(t[1], 2, d), t[2], t[3])],
                (o, t) => { using var sum = o.Add(t[2], t[3]); return [o.GatedResidual(t[0], o.Contiguous(Chunk(t[1], 2, d)), sum)]; },
                (27, 1, [2, 11, d]), (28, 0.5f, [2, 3 * d]), (29, 1, [2, 11, d]), (30, 1, [2, 11, d]));
            // [B, 1, D] vectors, and activations/scales on the 8-element steps with a short tail
            Compare(dt,
                (o, t) => [o.Modulate(t[0], t[1].Unsqueeze(1), t[2].Unsqueeze(1)), o.Scale(t[0], 0.5f, 0.25f), o.Activate(t[0], Activation.Silu)],
                (o, t) => [o.Modulate(t[0], t[1], t[2]), o.Scale(t[0], 0.5f, 0.25f), o.Activate(t[0], Activation.Silu)],
                (24, 1, [2, 5, d]), (25, 0.5f, [2, d]), (26, 0.5f, [2, d]));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void PreparedGatedEpiloguesEqualTheUnpreparedOnes(DType dt)
    {
        const int N = 9, K = 40, d = 72;
        var gpu = CudaTestDevice.Get(dt);
        foreach (int b in new[] { 1, 2 })
        {
            long launches = -1;
            int fallbacks = gpu.GatedEpilogueFallbacks;
            // a block's two gated GEMMs, gates chunks 2 and 5 of one [B, 6·D] modulation, one with a bias and one
            // without: the second accumulates into the first's out-of-place output
            Compare(dt,
                (o, t) =>
                {
                    // the very gate tensors the scope was given: the prepared constants are found by reference
                    Tensor g1 = Chunk(t[4], 2, d), g2 = Chunk(t[4], 5, d);
                    long before = gpu.Launches.Total;
                    var x1 = o.Empty(t[0].DType, b, N, d);
                    using (o.PrepareGatedEpilogues([(g1, t[3]), (g2, null)]))
                    {
                        o.LinearGatedResidualInto(t[0], t[1], t[2], t[3], g1, x1);
                        o.LinearGatedResidualInto(x1, t[1], t[2], null, g2);
                    }
                    launches = gpu.Launches.Total - before;
                    return [x1];
                },
                (o, t) =>
                {
                    using var p = o.Linear(t[1], t[2], t[3]);
                    using var x1 = o.GatedResidual(t[0], o.Contiguous(Chunk(t[4], 2, d)), p);
                    using var p2 = o.Linear(t[1], t[2]);
                    return [o.GatedResidual(x1, o.Contiguous(Chunk(t[4], 5, d)), p2)];
                },
                (61, 1, [b, N, d]), (62, 1, [b, N, K]), (63, 0.2f, [d, K]), (64, 0.5f, [d]), (65, 0.5f, [b, 6 * d]));
            if (XDit.Tests.Cuda.Emulation.EmulatedCuda.Active)
            {
                Assert.Equal(fallbacks, gpu.GatedEpilogueFallbacks);
                // one gate_alpha_bias_n and two matmuls
                Assert.Equal(3, launches);
            }
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void LinearGatedResidualIntoEqualsLinearThenGatedResidual(DType dt)
    {
        const int N = 9, K = 40;
        var gpu = CudaTestDevice.Get(dt);
        foreach (int d in new[] { 72, 77 })
            foreach (int b in new[] { 1, 2 })
                foreach (bool withBias in new[] { true, false })
                {
                    int fallbacks = gpu.GatedEpilogueFallbacks;
                    // the gate read in place from a packed [B, 6·D] modulation, as the blocks pass it
                    Compare(dt,
                        (o, t) =>
                        {
                            var x = o.Contiguous(t[0]);
                            o.LinearGatedResidualInto(x, t[1], t[2], withBias ? t[3] : null, Chunk(t[4], 2, d));
                            return [x];
                        },
                        (o, t) =>
                        {
                            using var p = o.Linear(t[1], t[2], withBias ? t[3] : null);
                            return [o.GatedResidual(t[0], o.Contiguous(Chunk(t[4], 2, d)), p)];
                        },
                        (41, 1, [b, N, d]), (42, 1, [b, N, K]), (43, 0.2f, [d, K]), (44, 0.5f, [d]), (45, 0.5f, [b, 6 * d]));
                    // one gate for every batch
                    Compare(dt,
                        (o, t) => { var x = o.Contiguous(t[0]); o.LinearGatedResidualInto(x, t[1], t[2], withBias ? t[3] : null, t[4]); return [x]; },
                        (o, t) => { using var p = o.Linear(t[1], t[2], withBias ? t[3] : null); return [o.GatedResidual(t[0], t[4], p)]; },
                        (46, 1, [b, N, d]), (47, 1, [b, N, K]), (48, 0.2f, [d, K]), (49, 0.5f, [d]), (50, 0.5f, [d]));
                    // out of place (C = x, D = output): the sum lands in output and x is left as it was
                    Compare(dt,
                        (o, t) =>
                        {
                            var x = o.Contiguous(t[0]);
                            var output = o.Empty(x.DType, b, N, d);
                            // y: the first N rows of a [B, N + 3, K] tensor, as attention hands back a stream's rows
                            o.LinearGatedResidualInto(x, t[1].Slice(1, 0, N), t[2], withBias ? t[3] : null, Chunk(t[4], 1, d), output);
                            return [output, x];
                        },
                        (o, t) =>
                        {
                            using var p = o.Linear(o.Contiguous(t[1].Slice(1, 0, N)), t[2], withBias ? t[3] : null);
                            return [o.GatedResidual(t[0], o.Contiguous(Chunk(t[4], 1, d)), p), o.Contiguous(t[0])];
                        },
                        (51, 1, [b, N, d]), (52, 1, [b, N + 3, K]), (53, 0.2f, [d, K]), (54, 0.5f, [d]), (55, 0.5f, [b, 6 * d]));
                    // the emulated cuBLASLt runs the gate as alpha vector; only a per-batch gate (or bias) whose
                    // batches are not 16-byte aligned (77 features) falls back to GEMM + gated residual
                    bool misaligned = b > 1 && d % 8 != 0;
                    if (XDit.Tests.Cuda.Emulation.EmulatedCuda.Active && !misaligned) Assert.Equal(fallbacks, gpu.GatedEpilogueFallbacks);
                }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void LinearGatedResidualIntoWithoutAGateAddsTheProjection(DType dt)
    {
        const int N = 9, K = 40;
        var gpu = CudaTestDevice.Get(dt);
        foreach (int d in new[] { 72, 77 })
            foreach (int b in new[] { 1, 2 })
                foreach (bool withBias in new[] { true, false })
                {
                    int fallbacks = gpu.GatedEpilogueFallbacks;
                    long launches = -1;
                    // in place, then out of place (C = x, D = output) from y the first N rows of a [B, N + 3, K]
                    // tensor, as attention hands back a stream's rows
                    Compare(dt,
                        (o, t) =>
                        {
                            var x = o.Contiguous(t[0]);
                            long before = gpu.Launches.Total;
                            o.LinearGatedResidualInto(x, t[1].Slice(1, 0, N), t[2], withBias ? t[3] : null, null);
                            launches = gpu.Launches.Total - before;
                            var output = o.Empty(x.DType, b, N, d);
                            o.LinearGatedResidualInto(t[0], t[1].Slice(1, 0, N), t[2], withBias ? t[3] : null, null, output);
                            return [x, output, o.Contiguous(t[0])];
                        },
                        (o, t) =>
                        {
                            using var p = o.Linear(o.Contiguous(t[1].Slice(1, 0, N)), t[2], withBias ? t[3] : null);
                            return [o.Add(t[0], p), o.Add(t[0], p), o.Contiguous(t[0])];
                        },
                        (56, 1, [b, N, d]), (57, 1, [b, N + 3, K]), (58, 0.2f, [d, K]), (59, 0.5f, [d]));
                    // the emulated cuBLASLt takes every one of them as one matmul with beta 1: nothing to prepare
                    if (XDit.Tests.Cuda.Emulation.EmulatedCuda.Active)
                    {
                        Assert.Equal(fallbacks, gpu.GatedEpilogueFallbacks);
                        Assert.Equal(1, launches);
                    }
                }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void CopiesOfMergeableViewsAreRowCopies(DType dt)
    {
        foreach (int d in new[] { 72, 77 })
        {
            // a slice of tokens (rows at a stride), a concat's parts, a chunk of a packed tensor, and a transposed view
            Compare(dt,
                (o, t) => [o.Contiguous(t[0].Slice(1, 2, 5)), o.Concat(1, t[0], t[1]), o.Contiguous(Chunk(t[2], 1, d)),
                           o.Contiguous(t[0].Permute(1, 0, 2)), o.Cast(t[0].Slice(1, 1, 3), DType.F32)],
                (o, t) => [o.Contiguous(t[0].Slice(1, 2, 5)), o.Concat(1, t[0], t[1]), o.Contiguous(Chunk(t[2], 1, d)),
                           o.Contiguous(t[0].Permute(1, 0, 2)), o.Cast(t[0].Slice(1, 1, 3), DType.F32)],
                (31, 1, [2, 9, d]), (32, 1, [2, 4, d]), (33, 1, [3, 3 * d]));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void LinearWritesAndReadsRowsOfAJointTensorInPlace(DType dt)
    {
        // two streams' projections written into their rows of one [B, N + T, 3·D] tensor, and a projection reading
        // the image rows of it back (a strided batch: rows 3·D apart, batches (N + T)·3·D apart)
        const int B = 2, N = 9, T = 4, D = 24;
        Compare(dt,
            (o, t) =>
            {
                var joint = o.Empty(o.ActivationType, B, N + T, 3 * D);
                o.LinearInto(joint.Slice(1, 0, N), t[0], t[2], t[3]);
                o.LinearInto(joint.Slice(1, N, T), t[1], t[4], t[5]);
                return [joint, o.Linear(joint.Slice(1, 0, N).Slice(2, D, D), t[6], null, Activation.GeluTanh)];
            },
            (o, t) =>
            {
                using var a = o.Linear(t[0], t[2], t[3]);
                using var c = o.Linear(t[1], t[4], t[5]);
                var joint = o.Concat(1, a, c);
                return [joint, o.Linear(o.Contiguous(joint.Slice(1, 0, N).Slice(2, D, D)), t[6], null, Activation.GeluTanh)];
            },
            (41, 1, [B, N, D]), (42, 1, [B, T, D]), (43, 0.3f, [3 * D, D]), (44, 1, [3 * D]), (45, 0.3f, [3 * D, D]), (46, 1, [3 * D]),
            (47, 0.3f, [40, D]));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void RmsNormGatedResidualEqualsRmsNormThenGatedResidual(DType dt)
    {
        // Mochi's (no weight) and Z-Image's (weight) norm after the output projection; the gate a chunk of a packed
        // [B, k·D] modulation read in place, one for every batch, or none; rows of 8-value steps and odd ones
        foreach (int d in new[] { 72, 77, 1536 })
        {
            Compare(dt,
                (o, t) => [o.RmsNormGatedResidual(t[0], Chunk(t[2], 1, d), t[1], null, 1e-6f)],
                (o, t) => { using var n = o.RmsNorm(t[1], null, 1e-6f); return [o.GatedResidual(t[0], o.Contiguous(Chunk(t[2], 1, d)), n)]; },
                (61, 1, [2, 9, d]), (62, 3, [2, 9, d]), (63, 0.5f, [2, 4 * d]));
            Compare(dt,
                (o, t) => [o.RmsNormGatedResidual(t[0], t[2], t[1], t[3], 1e-5f)],
                (o, t) => { using var n = o.RmsNorm(t[1], t[3], 1e-5f); return [o.GatedResidual(t[0], t[2], n)]; },
                (64, 1, [3, 5, d]), (65, 2, [3, 5, d]), (66, 0.5f, [d]), (67, 1, [d]));
            Compare(dt,
                (o, t) => [o.RmsNormGatedResidual(t[0], null, t[1], t[2], 1e-5f)],
                (o, t) => { using var n = o.RmsNorm(t[1], t[2], 1e-5f); return [o.Add(t[0], n)]; },
                (68, 1, [1, 7, d]), (69, 2, [1, 7, d]), (70, 1, [d]));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void RmsNormRopeInPlaceOnPackedQkvEqualsRmsNormThenRope(DType dt)
    {
        // q of a packed [B, N, 3, H, d] tensor, normed and rotated in place; Flux's 128, an odd pair count, a tiny head
        const int B = 2, N = 5, H = 3;
        foreach (int d in new[] { 128, 72, 6 })
            foreach (bool interleaved in new[] { true, false })
                Compare(dt,
                    (o, t) =>
                    {
                        var packed = o.Contiguous(t[0]);
                        var q = packed.Reshape(B, N, 3, H, d).Select(2, 0);
                        o.RmsNormRope(q, q, t[1], t[2], t[3], 1e-6f, interleaved);
                        return [packed];
                    },
                    (o, t) =>
                    {
                        var q = t[0].Reshape(B, N, 3, H, d).Select(2, 0);
                        using var n = o.RmsNorm(q, t[1], 1e-6f);
                        using var r = o.Rope(n, t[2], t[3], interleaved);
                        var packed = o.Contiguous(t[0]);
                        o.Copy(packed.Reshape(B, N, 3, H, d).Select(2, 0), r);
                        return [packed];
                    },
                    (51, 1, [B, N, 3 * H * d]), (52, 1, [d]), (53, 1, [N, d]), (54, 1, [N, d]));
        // without tables the norm alone, in place (SD3.5's qk-norm): k and v of the packed tensor untouched
        foreach (int d in new[] { 64, 6 })
            Compare(dt,
                (o, t) =>
                {
                    var packed = o.Contiguous(t[0]);
                    var k = packed.Reshape(B, N, 3, H, d).Select(2, 1);
                    o.RmsNormRope(k, k, t[1], null, null, 1e-6f, interleaved: false);
                    return [packed];
                },
                (o, t) =>
                {
                    using var n = o.RmsNorm(t[0].Reshape(B, N, 3, H, d).Select(2, 1), t[1], 1e-6f);
                    var packed = o.Contiguous(t[0]);
                    o.Copy(packed.Reshape(B, N, 3, H, d).Select(2, 1), n);
                    return [packed];
                },
                (55, 1, [B, N, 3 * H * d]), (56, 1, [d]));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void LayerNormRopeInPlaceOnPackedQkvEqualsLayerNormThenRope(DType dt)
    {
        // q and k of a packed [B, N, 3, H, d] tensor, normed with affine and rotated in place; HunyuanDiT's 88, an odd
        // pair count, a tiny head (a norm without the centring misses by far there)
        const int B = 2, N = 5, H = 3;
        foreach (int d in new[] { 88, 72, 6 })
            foreach (bool interleaved in new[] { true, false })
                Compare(dt,
                    (o, t) =>
                    {
                        var packed = o.Contiguous(t[0]);
                        var heads = packed.Reshape(B, N, 3, H, d);
                        foreach (int i in new[] { 0, 1 })
                            o.LayerNormRope(heads.Select(2, i), heads.Select(2, i), t[1], t[2], t[3], t[4], 1e-6f, interleaved);
                        return [packed];
                    },
                    (o, t) =>
                    {
                        var packed = o.Contiguous(t[0]);
                        foreach (int i in new[] { 0, 1 })
                        {
                            using var n = o.LayerNorm(t[0].Reshape(B, N, 3, H, d).Select(2, i), t[1], t[2], 1e-6f);
                            using var r = o.Rope(n, t[3], t[4], interleaved);
                            o.Copy(packed.Reshape(B, N, 3, H, d).Select(2, i), r);
                        }
                        return [packed];
                    },
                    (61, 1, [B, N, 3 * H * d]), (62, 1, [d]), (63, 1, [d]), (64, 1, [N, d]), (65, 1, [N, d]));
        // q and k as the 2H heads of one view, a weight and bias row each (HunyuanDiT's self-attention, one launch)
        foreach (int d in new[] { 88, 6 })
            Compare(dt,
                (o, t) =>
                {
                    var packed = o.Contiguous(t[0]);
                    var qk = QkHeads(packed, B, N, H, d);
                    o.LayerNormRope(qk, qk, t[1], t[2], t[3], t[4], 1e-6f, interleaved: true);
                    return [packed];
                },
                (o, t) =>
                {
                    var packed = o.Contiguous(t[0]);
                    foreach (int i in new[] { 0, 1 })
                    {
                        using var n = o.LayerNorm(t[0].Reshape(B, N, 3, H, d).Select(2, i), t[1].Select(0, i), t[2].Select(0, i), 1e-6f);
                        using var r = o.Rope(n, t[3], t[4], interleaved: true);
                        o.Copy(packed.Reshape(B, N, 3, H, d).Select(2, i), r);
                    }
                    return [packed];
                },
                (75, 1, [B, N, 3 * H * d]), (76, 1, [2, d]), (77, 1, [2, d]), (78, 1, [N, d]), (79, 1, [N, d]));
        // without tables the norm alone, in place (HunyuanDiT's cross-attention keys), without weight or bias too
        foreach (int d in new[] { 88, 6 })
            foreach (bool affine in new[] { true, false })
                Compare(dt,
                    (o, t) =>
                    {
                        var packed = o.Contiguous(t[0]);
                        var k = packed.Reshape(B, N, 2, H, d).Select(2, 0);
                        o.LayerNormRope(k, k, affine ? t[1] : null, affine ? t[2] : null, null, null, 1e-6f, interleaved: true);
                        return [packed];
                    },
                    (o, t) =>
                    {
                        using var n = o.LayerNorm(t[0].Reshape(B, N, 2, H, d).Select(2, 0), affine ? t[1] : null, affine ? t[2] : null, 1e-6f);
                        var packed = o.Contiguous(t[0]);
                        o.Copy(packed.Reshape(B, N, 2, H, d).Select(2, 0), n);
                        return [packed];
                    },
                    (66, 1, [B, N, 2 * H * d]), (67, 1, [d]), (68, 1, [d]));
    }

    /// <summary>q and k of a packed [B, N, 3·H·d] tensor as one [B, N, 2H, d] view.</summary>
    static Tensor QkHeads(Tensor packed, int b, int n, int h, int d)
        => new(packed.Storage, packed.DType, [b, n, 2 * h, d], [(long)n * 3 * h * d, 3L * h * d, d, 1], packed.Offset);

    [Theory, MemberData(nameof(DTypes))]
    public void LayerNormModulateOfTwoPartsEqualsConcatThenNorm(DType dt)
    {
        // HunyuanDiT's skip_norm over cat[x, skip]: parts of 8-value steps (the kernel reads each from its part; 1408
        // is HunyuanDiT's width), and a first part of 12 that is not (the concatenation is built)
        foreach (var (d1, d2) in new[] { (64, 64), (1408, 1408), (24, 40), (12, 20) })
        {
            Compare(dt,
                (o, t) => [o.LayerNormModulate(t[0], t[2], t[3], 1e-6f, t[1])],
                (o, t) =>
                {
                    using var cat = o.Concat(2, t[0], t[1]);
                    return [o.LayerNormModulate(cat, t[2], t[3], 1e-6f)];
                },
                (71, 1, [2, 5, d1]), (72, 2, [2, 5, d2]), (73, 0.5f, [d1 + d2]), (74, 0.5f, [2, d1 + d2]));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void RmsNormAcrossHeadsRopeInPlaceEqualsRmsNormOfTheRowThenRope(DType dt)
    {
        // q of a packed [B, N, 3, H, d] tensor normed over its whole H·d row and rotated per head, in place: Wan-14B's
        // 40 × 128 (a row of 5120, more than a block's threads), an odd pair count, a tiny head; and the norm alone
        const int B = 2, N = 3;
        foreach (var (h, d) in new[] { (40, 128), (3, 10), (2, 2) })
            foreach (bool interleaved in new[] { true, false })
                foreach (bool tables in new[] { true, false })
                    Compare(dt,
                        (o, t) =>
                        {
                            var packed = o.Contiguous(t[0]);
                            var q = packed.Reshape(B, N, 3, h, d).Select(2, 0);
                            o.RmsNormAcrossHeadsRope(q, q, t[1], tables ? t[2] : null, tables ? t[3] : null, 1e-6f, interleaved);
                            return [packed];
                        },
                        (o, t) =>
                        {
                            using var q = o.Contiguous(t[0].Reshape(B, N, 3, h * d).Select(2, 0));
                            using var n = o.RmsNorm(q, t[1], 1e-6f);
                            using var r = tables ? o.Rope(n.Reshape(B, N, h, d), t[2], t[3], interleaved) : null;
                            var packed = o.Contiguous(t[0]);
                            o.Copy(packed.Reshape(B, N, 3, h, d).Select(2, 0), r ?? n.Reshape(B, N, h, d));
                            return [packed];
                        },
                        (61, 1, [B, N, 3 * h * d]), (62, 1, [h * d]), (63, 1, [N, d]), (64, 1, [N, d]));
    }
}
