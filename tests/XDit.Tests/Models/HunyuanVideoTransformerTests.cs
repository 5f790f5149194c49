using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.HunyuanVideo;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class HunyuanVideoTransformerTests(ITestOutputHelper output)
{
    /// <summary>hunyuanvideo: the public case (1 dual + 1 single block, 1 refiner block, guidance, 2 rows whose text
    /// keeps 8 and 5 of 8 tokens).</summary>
    [Theory]
    [InlineData("hunyuanvideo")]
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
