using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.QwenImage;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class QwenImageTransformerTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("qwenimage")]
    public void FixtureMatchesDiffusers(string fixture)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(fixture), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{fixture} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{fixture} {r.Name}: {r.Problem} rel {r.RelativeError:E3}");
        }
    }
}
