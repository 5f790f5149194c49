using XDit.Comm;
using XDit.Tests.Pipelines;
using Xunit;

namespace XDit.Tests.PipeFusion;

/// <summary>PipeFusion on the demo model (8 blocks, 8×8 latent, 6 heads) against the single-rank pipeline.</summary>
public class PipeFusionLoopTests(ITestOutputHelper output)
{
    const int Steps = 6;

    [Theory]
    [InlineData(2, 1, 1, 2)]   // pp 2
    [InlineData(4, 2, 1, 4)]   // pp 2 × cfg 2
    [InlineData(4, 1, 2, 4)]   // pp 2 × ulysses 2
    public void WithWarmupOnEveryStepItEqualsTheSerialRun(int world, int cfg, int ulysses, int patches)
    {
        var request = PipeFusionTestKit.Request(Steps);
        var serial = PipeFusionTestKit.Serial(request);
        var runs = PipeFusionTestKit.PipeFusion(new DeviceMesh(world, cfg: cfg, pipefusion: 2, ulysses: ulysses), patches, Steps, request);
        foreach (var run in runs)
        {
            double err = Numerics.RelativeError(run.Latents, serial.Latents);
            Assert.True(err < 1e-5, $"final latents relative error {err:G3} against the serial run");
            double px = Numerics.MaxAbsError(PipeFusionTestKit.Pixels(run.Result), PipeFusionTestKit.Pixels(serial.Result));
            Assert.True(px < 1e-5, $"image max abs error {px:G3} against the serial run");
        }
        output.WriteLine($"world {world} cfg {cfg} ulysses {ulysses}: rel err {runs.Max(r => Numerics.RelativeError(r.Latents, serial.Latents)):G3}");
    }
}
