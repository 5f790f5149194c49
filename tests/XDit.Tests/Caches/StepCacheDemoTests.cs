using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Runtime;
using XDit.Tests.Pipelines;

namespace XDit.Tests.Caches;

/// <summary>
/// The step caches on the demo pipeline (PixArt-α, DPM-Solver, guidance 4.5) from the reference latents: threshold 0
/// gives the uncached images exactly (at a few steps: that equality holds step by step, whatever their number); a
/// moderate threshold skips steps and keeps the picture at the reference's 20 steps (asked shape and colours, PSNR
/// against the uncached image, which the two moderate cases share).
/// </summary>
public class StepCacheDemoTests(ITestOutputHelper output)
{
    sealed record Demo(string[] Prompts, int Steps, float Guidance, float[] Latents);

    static readonly Lazy<Demo> Reference = new(() =>
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.DemoModel, "reference.safetensors"));
        var meta = JsonConfig.Load(Path.Combine(TestPaths.DemoModel, "reference.json"));
        using var latents = reference.ReadF32("initial_latents");
        return new Demo(meta.Root.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToArray(),
            meta.GetInt("steps"), (float)meta.GetDouble("guidance_scale"), latents.ToFloatArray());
    });

    static GenerationResult Generate(TextToImagePipeline pipeline, IDenoiseExecutor executor, int? steps = null)
    {
        var d = Reference.Value;
        pipeline.Loop = new StandardDenoiseLoop(executor);
        return pipeline.Generate(new GenerationRequest { Prompts = d.Prompts, NumInferenceSteps = steps ?? d.Steps, GuidanceScale = d.Guidance, Latents = d.Latents });
    }

    /// <summary>The uncached images at the reference's steps, drawn once for both moderate thresholds (the run is
    /// deterministic; the tests only read it).</summary>
    static readonly Lazy<GenerationResult> Uncached = new(() =>
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        return Generate(pipeline, SingleRankExecutor.Instance);
    });

    /// <summary>PSNR in dB of images in [0, 1].</summary>
    public static double Psnr(float[] a, float[] b)
    {
        double mse = 0;
        for (int i = 0; i < a.Length; i++) mse += (a[i] - b[i]) * (double)(a[i] - b[i]);
        mse /= a.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(1 / mse);
    }

    /// <summary>At threshold 0 no step is skipped, so each step is the uncached step: 5 steps (DPM-Solver's first-order
    /// start, second-order steps and the last) check that as well as the reference's 20 did, at a quarter of the work.</summary>
    [Fact]
    public void AtThresholdZeroTheImagesEqualTheUncachedOnesExactly()
    {
        const int steps = 5;
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var plain = Pixels(Generate(pipeline, SingleRankExecutor.Instance, steps));
        using var fb = new FirstBlockCacheExecutor(0);
        Assert.Equal(plain, Pixels(Generate(pipeline, fb, steps)));
        using var tea = new TeaCacheExecutor(0, steps);
        Assert.Equal(plain, Pixels(Generate(pipeline, tea, steps)));
        Assert.Equal(0, fb.Stats.Skipped + tea.Stats.Skipped);
        Assert.Equal(steps, fb.Stats.Computed);
        Assert.Equal(steps, tea.Stats.Computed);
    }

    public static TheoryData<string, double> Moderate() => new()
    {
        { "fbcache", FbThreshold },
        { "teacache", TeaThreshold },
    };

    public const double FbThreshold = 0.1, TeaThreshold = 0.07;

    [Theory, MemberData(nameof(Moderate))]
    public void AModerateThresholdSkipsStepsAndKeepsThePicture(string method, double threshold)
    {
        var d = Reference.Value;
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var plain = Uncached.Value;
        using var fb = new FirstBlockCacheExecutor(threshold);
        using var tea = new TeaCacheExecutor(threshold, d.Steps);
        var cached = method == "fbcache" ? Generate(pipeline, fb) : Generate(pipeline, tea);
        var stats = method == "fbcache" ? fb.Stats : tea.Stats;

        double psnr = Psnr(Pixels(cached), Pixels(plain));
        output.WriteLine($"{method} threshold {threshold}: {stats}; PSNR {psnr:F2} dB against no cache; indicators {string.Join(" ", stats.Indicators.Select(v => v.ToString("G3")))}");
        Assert.True(stats.Skipped > 0, $"{method} at {threshold} skipped nothing: {stats}");
        Assert.True(stats.Computed > 1, $"{method} at {threshold} computed only {stats.Computed} steps");
        Assert.Equal(d.Steps, stats.Computed + stats.Skipped);
        Assert.True(psnr > 25, $"{method} at {threshold}: PSNR {psnr:F2} dB against the uncached images ({stats})");

        var expected = new[] { ("red", "blue"), ("yellow", "black") };
        for (int i = 0; i < expected.Length; i++)
        {
            var (fg, bg) = expected[i];
            var image = cached.Images[i];
            var centre = ImageProbe.Mean(image, image.Height / 2 - 3, image.Width / 2 - 3, 6, 6);
            Assert.True(ImageProbe.Closer(centre, fg, bg), $"{method}: \"{d.Prompts[i]}\" centre {ImageProbe.Format(centre)} is not closer to {fg} than to {bg}");
            var corner = ImageProbe.Mean(image, 0, 0, 4, 4);
            Assert.True(ImageProbe.Closer(corner, bg, fg), $"{method}: \"{d.Prompts[i]}\" corner {ImageProbe.Format(corner)} is not closer to {bg} than to {fg}");
        }
    }
}
