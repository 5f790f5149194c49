using XDit.Engine.Caches;
using XDit.Kernels.Cpu;
using XDit.Models.Ltx;

namespace XDit.Tests.Models;

/// <summary>TeaCache on LTX-Video takes TeaCache4LTX-Video's coefficients. The step caches' runs on it (threshold 0 exact,
/// repeated inputs skipped) are StepCacheFixtureTests' ltx_shapes rows.</summary>
public class LtxStepCacheTests
{
    const string Fixture = "ltx_shapes";

    [Fact]
    public void TeaCacheTakesLtxVideosCoefficients()
    {
        using var ops = new CpuOps();
        using var model = LtxTransformer.Load(TestPaths.Fixture(Fixture), ops);
        Assert.Same(TeaCacheCoefficients.Ltx, TeaCacheCoefficients.For(model));
        Assert.Equal(2.14700694e+01 * 1e-4 - 1.28016453e+01 * 1e-3 + 2.31279151 * 1e-2 + 7.92487521e-01 * 0.1 + 9.69274326e-03, TeaCacheCoefficients.Ltx.Rescale(0.1), 9);
    }
}
