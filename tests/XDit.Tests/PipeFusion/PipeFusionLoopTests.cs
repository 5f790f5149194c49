using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Tests.Pipelines;
using Xunit;

namespace XDit.Tests.PipeFusion;

/// <summary>PipeFusion on the demo model (8 blocks, 8×8 latent, 6 heads) against the single-rank pipeline.</summary>
public class PipeFusionLoopTests(ITestOutputHelper output)
{
    const int Steps = 6;

    [Theory]
    [InlineData(2, 1, 1, 1, 2)]   // pp 2
    [InlineData(4, 2, 1, 1, 4)]   // pp 2 × cfg 2
    [InlineData(4, 1, 2, 1, 4)]   // pp 2 × ulysses 2
    [InlineData(4, 1, 1, 2, 4)]   // pp 2 × ring 2
    [InlineData(8, 1, 2, 2, 2)]   // pp 2 × ulysses 2 × ring 2
    public void WithWarmupOnEveryStepItEqualsTheSerialRun(int world, int cfg, int ulysses, int ring, int patches)
    {
        var request = PipeFusionTestKit.Request(Steps);
        var serial = PipeFusionTestKit.Serial(Steps);   // one serial run for the five meshes
        var runs = PipeFusionTestKit.PipeFusion(new DeviceMesh(world, cfg: cfg, pipefusion: 2, ulysses: ulysses, ring: ring), patches, Steps, request);
        Assert.Equal(patches, runs[0].Geometry!.Count);
        // Ring merges partial softmaxes by log-sum-exp, which rounds differently from one softmax: the same ring
        // without PipeFusion is the bitwise reference for the image, serial the 1e-5 one for the latents.
        var reference = ring == 1 ? Pixels(serial.Result)
            : Pixels(ParallelGeneration.Run(TestPaths.DemoModel, new ParallelConfig { WorldSize = ulysses * ring, UlyssesDegree = ulysses, RingDegree = ring }, request).Result);
        foreach (var run in runs)
        {
            double err = Numerics.RelativeError(run.Latents, serial.Latents);
            Assert.True(err < 1e-5, $"final latents relative error {err:G3} against the serial run");
            double px = Numerics.MaxAbsError(Pixels(run.Result), reference);
            Assert.True(px < 1e-5, $"image max abs error {px:G3} against the {(ring == 1 ? "serial run" : "same ring without PipeFusion")}");
        }
        var pixels = Pixels(runs[0].Result);
        output.WriteLine($"world {world} cfg {cfg} ulysses {ulysses} ring {ring}: latents rel err {runs.Max(r => Numerics.RelativeError(r.Latents, serial.Latents)):G3} against serial; image rel err {Numerics.RelativeError(pixels, Pixels(serial.Result)):G3} against serial, max abs {Numerics.MaxAbsError(pixels, reference):G3} against the reference");
    }
}

/// <summary>Stale K/V on the demo model at its reference 20 steps: still the asked picture, close to serial.</summary>
public class PipeFusionQualityTests(ITestOutputHelper output)
{
    static readonly (string Fg, string Bg)[] Colours = [("red", "blue"), ("yellow", "black")];

    [Fact]
    public void WarmupOneDrawsTheAskedShapesAndStaysCloseToSerialAndPsnrGrowsWithWarmup()
    {
        var serial = PipeFusionTestKit.Serial(20);
        var mesh = new DeviceMesh(2, pipefusion: 2);
        var psnr = new Dictionary<int, double>();
        // warm-up 0 was also run and printed here, never asserted: left out (a quarter of this test's time)
        foreach (int warmup in new[] { 1, 2 })
        {
            // warm-up 1 is the run PipeFusionHybridTests' ring 2 test compares its stale K/V with: one run for both
            var runs = PipeFusionTestKit.PipeFusion(mesh, 4, warmup, 20);
            psnr[warmup] = PipeFusionTestKit.Psnr(runs[0].Result, serial.Result);
            output.WriteLine($"pp 2, 4 patches, warmup {warmup}: PSNR against serial {psnr[warmup]:F2} dB; stale KV {runs[0].StaleKvBytes} / {runs[1].StaleKvBytes} bytes per rank; bytes/step rank0 {string.Join(",", runs[0].BytesPerStep)}; rank1 {string.Join(",", runs[1].BytesPerStep)}; final {runs[1].FinalBytes}");
            Assert.Equal(Pixels(runs[0].Result), Pixels(runs[1].Result));
            if (warmup == 1) AssertDrawsTheShapes(runs[0].Result);
        }
        Assert.True(psnr[1] > 25, $"warmup 1 PSNR {psnr[1]:F2} dB against serial");
        Assert.True(psnr[2] >= psnr[1] - 0.5, $"warmup 2 ({psnr[2]:F2} dB) should not be worse than warmup 1 ({psnr[1]:F2} dB)");
    }

    internal static void AssertDrawsTheShapes(XDit.Engine.Pipelines.GenerationResult result)
    {
        for (int i = 0; i < Colours.Length; i++)
        {
            var (fg, bg) = Colours[i];
            var image = result.Images[i];
            var centre = ImageProbe.Mean(image, image.Height / 2 - 3, image.Width / 2 - 3, 6, 6);
            Assert.True(ImageProbe.Closer(centre, fg, bg), $"image {i}: centre colour {ImageProbe.Format(centre)} is not closer to {fg} than to {bg}");
            foreach (var (y, x) in new[] { (0, 0), (0, image.Width - 4), (image.Height - 4, 0), (image.Height - 4, image.Width - 4) })
            {
                var corner = ImageProbe.Mean(image, y, x, 4, 4);
                Assert.True(ImageProbe.Closer(corner, bg, fg), $"image {i}: corner ({y},{x}) colour {ImageProbe.Format(corner)} is not closer to {bg} than to {fg}");
            }
        }
    }
}

/// <summary>Patch streaming mechanics, hybrids up to 8 ranks, traffic, and bad input.</summary>
public class PipeFusionHybridTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(2, 1, 1)]   // pp 2
    [InlineData(4, 2, 1)]   // pp 2 × ulysses 2
    [InlineData(4, 1, 2)]   // pp 2 × ring 2
    [InlineData(8, 2, 2)]   // pp 2 × ulysses 2 × ring 2
    public void OnePatchWithoutWarmupStreamsTheWholeImageFreshAndEqualsSerial(int world, int ulysses, int ring)
    {
        // One patch = the whole image, so every K/V is fresh: the patched path (latent sent back to stage 0 every
        // step, per-patch scheduler) must then equal the serial run.
        var request = PipeFusionTestKit.Request(5);
        var serial = PipeFusionTestKit.Serial(5);   // one serial run for the four meshes
        var runs = PipeFusionTestKit.PipeFusion(new DeviceMesh(world, pipefusion: 2, ulysses: ulysses, ring: ring), 1, 0, request);
        foreach (var run in runs)
            Assert.True(Numerics.RelativeError(run.Latents, serial.Latents) < 1e-5, $"relative error {Numerics.RelativeError(run.Latents, serial.Latents):G3}");
    }

    [Fact]
    public void WorldOf8PipeFusion2Ulysses2Cfg2With4PatchesAndWarmup1DrawsThePicture()
    {
        var request = PipeFusionTestKit.Request(20);
        var mesh = new DeviceMesh(8, cfg: 2, pipefusion: 2, ulysses: 2);
        var runs = PipeFusionTestKit.PipeFusion(mesh, 4, 1, request);
        var serial = PipeFusionTestKit.Serial(20);   // the serial run PipeFusionQualityTests holds pp 2 to
        var pixels = Pixels(runs[0].Result);
        foreach (var run in runs) Assert.Equal(pixels, Pixels(run.Result));
        PipeFusionQualityTests.AssertDrawsTheShapes(runs[0].Result);
        double psnr = PipeFusionTestKit.Psnr(runs[0].Result, serial.Result);
        output.WriteLine($"{mesh}, 4 patches, warmup 1: PSNR against serial {psnr:F2} dB");
        for (int r = 0; r < runs.Length; r++)
            output.WriteLine($"rank {r} {mesh.CoordOf(r)}: stale KV {runs[r].StaleKvBytes} bytes, bytes/step (step 0, step 1, last) {runs[r].BytesPerStep[0]}, {runs[r].BytesPerStep[1]}, {runs[r].BytesPerStep[^1]}, final {runs[r].FinalBytes}");
        Assert.True(psnr > 25, $"PSNR {psnr:F2} dB against serial");
    }

    [Fact]
    public void Ring2InsideTheStagesWith4PatchesAndWarmup1DrawsThePicture()
    {
        var request = PipeFusionTestKit.Request(20);
        var mesh = new DeviceMesh(4, pipefusion: 2, ring: 2);
        var runs = PipeFusionTestKit.PipeFusion(mesh, 4, 1, request);
        Assert.Equal(4, runs[0].Geometry!.Count);
        var serial = PipeFusionTestKit.Serial(20);
        var pixels = Pixels(runs[0].Result);
        foreach (var run in runs) Assert.Equal(pixels, Pixels(run.Result));
        PipeFusionQualityTests.AssertDrawsTheShapes(runs[0].Result);
        double psnr = PipeFusionTestKit.Psnr(runs[0].Result, serial.Result);
        // pp 2 alone, 4 patches, warm-up 1 at 20 steps: the run PipeFusionQualityTests asserts on, shared
        var pp = PipeFusionTestKit.PipeFusion(new DeviceMesh(2, pipefusion: 2), 4, 1, 20);
        double ppPsnr = PipeFusionTestKit.Psnr(pp[0].Result, serial.Result);
        output.WriteLine($"{mesh}, 4 patches, warmup 1: PSNR against serial {psnr:F2} dB (pp 2 alone: {ppPsnr:F2} dB); stale KV per rank {runs[0].StaleKvBytes} bytes (pp 2 alone {pp[0].StaleKvBytes})");
        // Each ring rank buffers half of every patch: half the stale K/V of a stage without sequence parallelism.
        Assert.Equal(pp[0].StaleKvBytes / 2, runs[0].StaleKvBytes);
        Assert.True(psnr > 25, $"PSNR {psnr:F2} dB against serial");
    }

    [Fact]
    public void TrafficPerStepAgainstUlyssesAlone()
    {
        var request = PipeFusionTestKit.Request(3);
        var pf = PipeFusionTestKit.PipeFusion(new DeviceMesh(2, pipefusion: 2), 4, 1, request);
        var uly = PipeFusionTestKit.Ulysses(2, request);
        var serial = PipeFusionTestKit.Serial(3);
        Assert.True(Numerics.RelativeError(uly[0].Latents, serial.Latents) < 1e-5, "the Ulysses reference loop itself must equal serial");
        // Demo: 4 rows (cfg on one rank) × 64 tokens × 192 features × 4 bytes = one activation A = 196608 bytes.
        long activation = 4L * 64 * 192 * 4, latent = 2L * 4 * 64 * 4;
        Assert.Equal(activation, pf[0].BytesPerStep[1]);          // stage 0: the hidden states of every patch once
        Assert.Equal(latent, pf[1].BytesPerStep[1]);              // last stage: the new latent bands back to stage 0
        // Ulysses: per layer q, k, v in and the output back, each (U−1)/U of the local shard: 4·A/2/2 per layer,
        // plus the all-gather of the output tokens [4, 32, 8] before unpatchify.
        Assert.Equal(8 * 4 * activation / 2 / 2 + 4 * 32 * 8 * 4, uly[0].BytesPerStep[1]);
        output.WriteLine($"bytes sent per rank per step: PipeFusion pp 2 stage 0 {pf[0].BytesPerStep[1]}, stage 1 {pf[1].BytesPerStep[1]} (+{pf[1].FinalBytes} once at the end); Ulysses 2 {uly[0].BytesPerStep[1]} per rank");
    }

    [Fact]
    public void BadInputIsRefusedBeforeAnyWork()
    {
        var request = PipeFusionTestKit.Request(4);
        string Fails(DeviceMesh mesh, int patches, int warmup) =>
            Assert.ThrowsAny<Exception>(() => PipeFusionTestKit.PipeFusion(mesh, patches, warmup, request)).Message;

        Assert.Contains("more than the transformer's 8 blocks", Fails(new DeviceMesh(9, pipefusion: 9), 1, 1));
        Assert.Contains("without blocks", Fails(new DeviceMesh(5, pipefusion: 5), 1, 1));
        Assert.Contains("more than the 8 token rows", Fails(new DeviceMesh(2, pipefusion: 2), 9, 1));
        Assert.Contains("5 warmup steps is more than the 4 denoising steps", Fails(new DeviceMesh(2, pipefusion: 2), 2, 5));
        Assert.Contains("do not divide by the ulysses degree 4", Fails(new DeviceMesh(8, pipefusion: 2, ulysses: 4), 2, 1));
        Assert.Throws<ArgumentException>(() => new XDit.Engine.PipeFusion.PipeFusionLoop(new DeviceMesh(2, pipefusion: 2), new FakeWorld(2), 0, 1));
        Assert.Throws<ArgumentException>(() => new XDit.Engine.PipeFusion.PipeFusionLoop(new DeviceMesh(2, pipefusion: 2), new FakeWorld(2), 2, -1));
        Assert.Throws<ArgumentException>(() => new XDit.Engine.PipeFusion.PipeFusionLoop(new DeviceMesh(4, pipefusion: 2), new FakeWorld(2), 2, 1));
        var noCfg = request with { GuidanceScale = 1f };
        Assert.Contains("needs classifier-free guidance", Assert.ThrowsAny<Exception>(() => PipeFusionTestKit.PipeFusion(new DeviceMesh(4, cfg: 2, pipefusion: 2), 2, 1, noCfg)).Message);
    }

    /// <summary>Only its size is read by the constructor.</summary>
    sealed class FakeWorld(int size) : ICommunicator
    {
        public int Rank => 0;
        public int Size => size;
        public XDit.Kernels.IOps Ops => throw new NotSupportedException();
        public IReadOnlyList<int> WorldRanks => Enumerable.Range(0, size).ToArray();
        public CommStats Stats { get; } = new();
        public void AllReduce(XDit.Runtime.Tensor t) => throw new NotSupportedException();
        public XDit.Runtime.Tensor AllGather(XDit.Runtime.Tensor input, int axis) => throw new NotSupportedException();
        public XDit.Runtime.Tensor ReduceScatter(XDit.Runtime.Tensor input, int axis) => throw new NotSupportedException();
        public XDit.Runtime.Tensor AllToAll(XDit.Runtime.Tensor input, int scatterAxis, int gatherAxis) => throw new NotSupportedException();
        public void Broadcast(XDit.Runtime.Tensor t, int root) => throw new NotSupportedException();
        public void Barrier() => throw new NotSupportedException();
        public void Send(XDit.Runtime.Tensor t, int dst, int tag = 0) => throw new NotSupportedException();
        public void Recv(XDit.Runtime.Tensor dst, int src, int tag = 0) => throw new NotSupportedException();
        public ICommRequest SendRecvAsync(XDit.Runtime.Tensor send, int dst, XDit.Runtime.Tensor recv, int src, int tag = 0) => throw new NotSupportedException();
        public ICommunicator Split(int[] ranks) => throw new NotSupportedException();
    }
}
