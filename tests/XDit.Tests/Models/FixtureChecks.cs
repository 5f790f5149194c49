using XDit.Engine.Verify;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Models;

/// <summary>How a model's test checks one of its golden fixtures on the CPU.</summary>
internal static class FixtureChecks
{
    /// <summary>The fixture case verified on the CPU: at least one tensor, each within the case's tolerance, each printed.</summary>
    public static void MatchOnCpu(string fixture, ITestOutputHelper output)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(fixture), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{fixture} {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{fixture} {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
    }
}
