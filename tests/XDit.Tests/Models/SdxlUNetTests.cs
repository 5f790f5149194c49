using XDit.Engine.Verify;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Models;

public class SdxlUNetTests(ITestOutputHelper output)
{
    const string Case = "sdxl_unet";

    [Fact]
    public void FixtureMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(Case), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{Case} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{Case} {r.Name}: {r.Problem} rel {r.RelativeError:E3}");
        }
    }
}
