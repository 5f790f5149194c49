using XDit.Engine.Execution;
using XDit.Engine.FastAttn;
using XDit.Engine.Pipelines;
using XDit.Runtime;
using XDit.Tests.Caches;
using XDit.Tests.Pipelines;

namespace XDit.Tests.FastAttn;

/// <summary>
/// DiTFastAttn on the demo pipeline (PixArt-α: 8 blocks, 64 image tokens at 32 px, guidance 4.5) from the reference
/// latents: plans that cannot change anything give the plain images, a calibrated plan is what its calibration run
/// drew, and a moderate threshold compresses attention and keeps the picture (8 steps). The exact checks (a plan that
/// changes nothing, the work ratios of a plan that shares everything) hold step by step, so they run 3 steps: step 0,
/// which every plan keeps full, and two later steps where the plan's methods apply.
/// </summary>
public class FastAttnDemoTests(ITestOutputHelper output)
{
    const int Steps = 8, ExactSteps = 3;

    static GenerationRequest Request(int steps = Steps)
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.DemoModel, "reference.safetensors"));
        using var latents = reference.ReadF32("initial_latents");
        return new GenerationRequest
        {
            Prompts = ["a red circle on a blue background", "a yellow square on a black background"],
            NumInferenceSteps = steps,
            GuidanceScale = 4.5f,
            Latents = latents.ToFloatArray(),
        };
    }

    static float[] Generate(TextToImagePipeline pipeline, IDenoiseLoop loop, int steps = Steps)
    {
        pipeline.Loop = loop;
        return Pixels(pipeline.Generate(Request(steps)));
    }

    static FastAttnPlan Uniform(FastAttnMethod later, int steps)
    {
        var plan = new FastAttnPlan(8, steps);
        for (int b = 0; b < 8; b++)
            for (int s = 1; s < steps; s++) plan[b, s] = later;
        return plan;
    }

    [Fact]
    public void PlansThatChangeNothingGiveThePlainImages()
    {
        const int steps = ExactSteps;
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var plain = Generate(pipeline, new StandardDenoiseLoop(SingleRankExecutor.Instance), steps);
        // every layer full
        Assert.Equal(plain, Generate(pipeline, new FastAttnLoop(Uniform(FastAttnMethod.FullAttn, steps), window: 8), steps));
        // window steps with a window over all 64 tokens: the window attention is the full one and the residual 0
        var wide = Generate(pipeline, new FastAttnLoop(Uniform(FastAttnMethod.ResidualWindowAttn, steps), window: 63), steps);
        Assert.True(Numerics.RelativeError(wide, plain) < 1e-6, $"window 63 of 64 tokens: relative error {Numerics.RelativeError(wide, plain):E2}");
        // and a narrower window does change the picture (the test above can fail)
        var narrow = Generate(pipeline, new FastAttnLoop(Uniform(FastAttnMethod.ResidualWindowAttn, steps), window: 4), steps);
        Assert.True(Numerics.RelativeError(narrow, plain) > 1e-4, $"window 4: relative error {Numerics.RelativeError(narrow, plain):E2}");
        // threshold 0: no loss is below it, so calibration keeps every layer full
        var calibrating = new FastAttnLoop(null, window: 8, threshold: 0);
        Assert.Equal(plain, Generate(pipeline, calibrating, steps));
        Assert.Equal(8 * steps, calibrating.Plan!.Counts()[FastAttnMethod.FullAttn]);
    }

    [Fact]
    public void ACalibratedPlanRedrawsItsCalibrationRunAndCompressesAttention()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var plain = Generate(pipeline, new StandardDenoiseLoop(SingleRankExecutor.Instance));
        var calibrating = new FastAttnLoop(null, window: 8, threshold: 0.3);
        var calibrated = Generate(pipeline, calibrating);
        var plan = calibrating.Plan!;
        var following = new FastAttnLoop(plan, window: 8);
        pipeline.Loop = following;
        var followed = pipeline.Generate(Request());
        Assert.Equal(calibrated, Pixels(followed));

        var stats = following.LastStats!;
        double psnr = StepCacheDemoTests.Psnr(calibrated, plain);   // reported, not asserted: see below
        output.WriteLine($"plan {plan.Summary()}; {stats}; PSNR {psnr:F2} dB against plain attention");
        Assert.Equal(8, Enumerable.Range(0, 8).Count(b => plan[b, 0] == FastAttnMethod.FullAttn));   // step 0 stays full
        Assert.True(plan.Counts().GetValueOrDefault(FastAttnMethod.FullAttn) < 8 * Steps, plan.Summary());
        Assert.True(stats.AttentionWorkRatio < 0.8, stats.ToString());
        // The tiny demo model is sensitive (64 tokens, a window of 8, guidance 4.5 amplifying what CFG share changes):
        // the pixels move (about 10 dB PSNR at this threshold) but each prompt keeps its shape's colour on its background.
        // (the images of the run that followed the plan; a second run of it drew the same pixels, asserted above)
        var images = followed.Images;
        var expected = new[] { ("red", "blue"), ("yellow", "black") };
        for (int i = 0; i < expected.Length; i++)
        {
            var (fg, bg) = expected[i];
            var image = images[i];
            var centre = ImageProbe.Mean(image, image.Height / 2 - 3, image.Width / 2 - 3, 6, 6);
            Assert.True(ImageProbe.Closer(centre, fg, bg), $"image {i}: centre {ImageProbe.Format(centre)} is not closer to {fg} than to {bg}");
            var corner = ImageProbe.Mean(image, 0, 0, 4, 4);
            Assert.True(ImageProbe.Closer(corner, bg, fg), $"image {i}: corner {ImageProbe.Format(corner)} is not closer to {bg} than to {fg}");
        }
    }

    [Fact]
    public void AHugeThresholdSharesEveryLaterOutput()
    {
        const int steps = ExactSteps;
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var calibrating = new FastAttnLoop(null, window: 8, threshold: 1e9);
        Generate(pipeline, calibrating, steps);
        Assert.Equal(8 * (steps - 1), calibrating.Plan!.Counts()[FastAttnMethod.OutputShare]);
        // calibrating, step 0 also computed every layer's window residual; following the plan, it computes none
        Assert.Equal((1 + FastAttention.WindowShare(64, 8)) / steps, calibrating.LastStats!.AttentionWorkRatio, 12);
        var following = new FastAttnLoop(calibrating.Plan, window: 8);
        Generate(pipeline, following, steps);
        Assert.Equal(1.0 / steps, following.LastStats!.AttentionWorkRatio, 12);
    }
}
