using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
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

    public static TheoryData<DType, int, bool> Cases => new()
    {
        { DType.BF16, 128, true }, { DType.F16, 128, true }, { DType.BF16, 64, false }, { DType.F16, 64, true },
        { DType.F32, 128, true }, { DType.BF16, 72, true },
    };

    [Theory, MemberData(nameof(Cases))]
    public void EqualsLinearThenRmsNormRopePerGroup(DType dt, int d, bool rotate)
    {
        var gpu = CudaTestDevice.Get(dt);
        int qk = 2 * H * d, width = 3 * H * d;
        float[] Input(int n, int seed, float scale) => CudaTestDevice.Quantize(Numerics.Random(n, seed, scale), dt);
        var data = new[]
        {
            Input(B * N * width, 61, 1), Input(B * N * K, 62, 1), Input(qk * K, 63, 0.3f), Input(qk, 64, 1),
            Input(2 * d, 65, 1), Input(N * d, 66, 1), Input(N * d, 67, 1),
        };
        int[][] shapes = [[B, N, width], [B, N, K], [qk, K], [qk], [2, d], [N, d], [N, d]];

        // CpuOps: the unfused ops, written into the q/k columns of the packed rows
        var c = data.Select((v, i) => Cpu.FromHost(v, shapes[i])).ToArray();
        using var proj = Cpu.Linear(c[1], c[2], c[3]);
        var heads = proj.Reshape(B, N, 2 * H, d);
        var want = Cpu.Contiguous(c[0]);
        var wantQk = QkHeads(want, d);
        for (int g = 0; g < 2; g++)
            Cpu.RmsNormRope(wantQk.Slice(2, g * H, H), heads.Slice(2, g * H, H), c[4].Select(0, g), rotate ? c[5] : null, rotate ? c[6] : null, 1e-6f, interleaved: true);

        var t = data.Select((v, i) => gpu.FromHost(v, shapes[i])).ToArray();
        var launches = new List<string>();
        int fallbacks = gpu.NormRopeEpilogueFallbacks;
        gpu.Launches.Observer = launches.Add;
        try
        {
            gpu.LinearRmsNormRopeInto(QkHeads(t[0], d), t[1], t[2], t[3], t[4], rotate ? t[5] : null, rotate ? t[6] : null, 1e-6f, interleaved: true);
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

        bool fused = dt != DType.F32 && CudaKernels.LinearRmsNormRopeFor(dt == DType.BF16, d) is not null;
        string kernel = $"linear_rms_norm_rope_{(dt == DType.BF16 ? "bf16" : "f16")}_d{d}";
        Assert.Equal(fused ? [kernel] : launches.Where(l => l != kernel).ToList(), launches);
        Assert.Equal(dt != DType.F32 && !fused ? 1 : 0, gpu.NormRopeEpilogueFallbacks - fallbacks);

        foreach (var x in c.Append(want)) x.Dispose();
        foreach (var x in t) x.Dispose();
    }

    /// <summary>The q and k heads [B, N, 2H, d] of packed [B, N, 3·H·d] rows: the first 2·H·d columns.</summary>
    static Tensor QkHeads(Tensor packed, int d)
        => new(packed.Storage, packed.DType, [B, N, 2 * H, d], [packed.Strides[0], packed.Strides[1], d, 1], packed.Offset);
}
