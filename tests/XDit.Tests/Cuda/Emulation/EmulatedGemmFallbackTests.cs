using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// Where cuBLASLt's heuristic has no algorithm, CudaOps still computes the product: through cuBLASLt without the
/// epilogue (bias and activation as kernels of their own), else through plain cuBLAS. The stand-in cuBLASLt is told
/// to refuse, each CudaOps is fresh (plans are cached per instance), and the results are checked against CpuOps.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedGemmFallbackTests
{
    static readonly CpuOps Cpu = new();

    [Theory]
    [InlineData(0, 0)]   // no refusal: the epilogue runs in cuBLASLt and nothing falls back
    [InlineData(1, 1)]   // epilogues refused: the Linear with bias and GELU falls back once, the MatMul not
    [InlineData(2, 2)]   // everything refused: both go through cuBLAS
    public void ProductsCuBlasLtRefusesAreComputedAnotherWay(int mode, int fallbacks)
    {
        EmulatedCuda.Require();
        var emu = KernelEmulator.Get();
        emu.RefuseLtAlgorithms(mode);
        try
        {
            using var gpu = new CudaOps(0, DType.F32);
            var x = Numerics.Random(3 * 29 * 40, 1);
            var w = Numerics.Random(24 * 40, 2, 0.3f);
            var bias = Numerics.Random(24, 3);
            var a = Numerics.Random(2 * 17 * 40, 4);
            Check(gpu, o => o.Linear(o.FromHost(x, 3, 29, 40), o.FromHost(w, 24, 40), o.FromHost(bias, 24), Activation.GeluTanh));
            Check(gpu, o => o.MatMul(o.FromHost(a, 2, 17, 40), o.FromHost(w, 24, 40), transposeB: true, alpha: 0.5f));
            Assert.Equal(fallbacks, gpu.GemmFallbacks);
        }
        finally
        {
            emu.RefuseLtAlgorithms(0);
        }
    }

    static void Check(CudaOps gpu, Func<IOps, Tensor> op)
    {
        using var want = op(Cpu);
        using var got = op(gpu);
        Assert.Equal(want.Dims, got.Dims);
        double err = Numerics.RelativeError(gpu.ToHost(got), Cpu.ToHost(want));
        Assert.True(err <= 1e-5, $"relative error {err:E3}");
    }
}
