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
            // [B, 1, D] vectors, and activations/scales on the 8-element steps with a short tail
            Compare(dt,
                (o, t) => [o.Modulate(t[0], t[1].Unsqueeze(1), t[2].Unsqueeze(1)), o.Scale(t[0], 0.5f, 0.25f), o.Activate(t[0], Activation.Silu)],
                (o, t) => [o.Modulate(t[0], t[1], t[2]), o.Scale(t[0], 0.5f, 0.25f), o.Activate(t[0], Activation.Silu)],
                (24, 1, [2, 5, d]), (25, 0.5f, [2, d]), (26, 0.5f, [2, d]));
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
}
