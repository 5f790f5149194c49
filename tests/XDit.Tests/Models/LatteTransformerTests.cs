using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Latte;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class LatteTransformerTests(ITestOutputHelper output)
{
    void AssertFixturePasses(string name)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(name), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{name} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{name} {r.Name}: {r.Problem} rel {r.RelativeError:E3}");
        }
    }

    [Fact] public void FixtureLatteMatchesDiffusers() => AssertFixturePasses("latte");
}
