using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Vae.Wan;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class WanVaeTests
{
    readonly ITestOutputHelper _out;
    public WanVaeTests(ITestOutputHelper output) => _out = output;

    static string Dir => TestPaths.Fixture("wan_vae");

    /// <summary>diffusers' decode of 2 latent frames, one at a time: the first through both time-doubling upsamplers
    /// as one frame (their time_conv skipped), the second as four from the causal convolutions' cache → 5 frames,
    /// clamped.</summary>
    [Fact]
    public void DecodeMatchesDiffusers()
    {
        using var ops = new CpuOps();
        using var notes = XDit.Models.CheckpointNotes.Collect();
        var results = FixtureVerifier.Verify(Dir, ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            _out.WriteLine($"wan_vae {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"wan_vae {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
        // the encoder's tensors are left out by design; every decoder tensor was read
        Assert.Empty(notes.Messages);
    }
}
