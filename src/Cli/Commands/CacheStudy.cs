using System.Globalization;
using XDit.Engine.Analysis;
using XDit.Engine.Caches;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit analyze --simulate [--measure]`: replays step-cache policies on the measured series (which steps and
/// blocks each would skip, the compute saved and the predicted error) and, with --measure, runs each for real on
/// every prompt of the analysis at its first step count: the compute saved and the PSNR of the picture against
/// the uncached one (the analysis' own, whose executor is the plain forward).
/// </summary>
static class CacheStudy
{
    public static List<string> Run(TextToImagePipeline pipeline, RedundancyStudy study, IReadOnlyList<CachePolicy> policies, List<GeneratedImage>? uncached, bool quiet)
    {
        if (study.Request.Recording.Halves != HalfSelection.Together) throw new ArgumentException("--simulate replays the whole batch's series: use --cfg together");
        int steps = study.StepCounts[0];
        var stats = RedundancyStatistics.From(study, [ChangeMetric.MeanAbs, ChangeMetric.RelativeL1]);
        var series = ReplaySeries.From(stats, steps);
        var tea = TeaCacheCoefficients.For(pipeline.Denoiser);
        var ci = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            $"step caches replayed on the mean series of {study.Request.Prompts.Count} prompts at {steps} steps ({series.Blocks} blocks); predicted error = mean over steps of the summed mean|Δ| of the stale residuals reused",
            uncached is null
                ? $"{"policy",-16} {"saved",8} {"pred.err",10}  plan"
                : $"{"policy",-16} {"saved",8} {"pred.err",10} {"meas.saved",11} {"PSNR dB",8} {"min PSNR",9}  plan",
        };
        foreach (var policy in policies)
        {
            var sim = CacheSimulator.Simulate(policy, series, tea);
            string measured = "";
            if (uncached is not null)
            {
                var (saved, psnr, minPsnr) = Measure(pipeline, study, policy, series, uncached, steps);
                measured = string.Create(ci, $" {saved,10:P1} {psnr,8:F2} {minPsnr,9:F2}");
            }
            lines.Add(string.Create(ci, $"{policy,-16} {sim.ComputeSaved,8:P1} {sim.PredictedError,10:G3}{measured}  {sim.Describe()}"));
            if (!quiet) Console.WriteLine(lines[^1]);
        }
        if (!quiet) { Console.WriteLine(lines[0]); }
        return lines;
    }

    static (double Saved, double Psnr, double MinPsnr) Measure(TextToImagePipeline pipeline, RedundancyStudy study, CachePolicy policy,
        ReplaySeries series, List<GeneratedImage> uncached, int steps)
    {
        var r = study.Request;
        var loop = pipeline.Loop;
        double saved = 0, psnr = 0, min = double.PositiveInfinity;
        try
        {
            for (int p = 0; p < r.Prompts.Count; p++)
            {
                var cache = policy.Loop(series.Seed());
                pipeline.Loop = cache;
                var result = pipeline.Generate(new GenerationRequest
                {
                    Prompts = [r.Prompts[p]], NegativePrompt = r.NegativePrompt, NumInferenceSteps = steps, GuidanceScale = r.GuidanceScale,
                    Height = r.Height, Width = r.Width, Seed = r.Seed, Latents = r.Latents,
                });
                var stats = cache.Last!.Stats;
                int n = pipeline.Denoiser.NumBlocks;
                saved += stats.BlocksTotal > 0 ? 1 - stats.BlocksComputed / (double)stats.BlocksTotal
                    : stats.Skipped * (policy.Method == "fbcache" ? n - 1 : n) / (double)(steps * n);
                double q = Psnr(result.Images[0].Pixels, uncached[p].Pixels);
                psnr += q;
                min = Math.Min(min, q);
            }
        }
        finally { pipeline.Loop = loop; }
        return (saved / r.Prompts.Count, psnr / r.Prompts.Count, min);
    }

    /// <summary>10·log10(1 / MSE) of two pictures in [0, 1] (infinite when equal).</summary>
    public static double Psnr(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new InvalidOperationException($"PSNR of pictures of {a.Length} and {b.Length} values");
        double se = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - b[i]; se += d * d; }
        double mse = se / a.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(1 / mse);
    }
}
