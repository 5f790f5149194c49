using XDit.Engine.Execution;
using XDit.Engine.Parallel;
using XDit.Engine.Pipelines;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Pipelines;

/// <summary>
/// PixArt and SANA with a DDPMScheduler in the folder (any diffusers scheduler fits them): the step noise follows the
/// request's seed (before, these pipelines never seeded it: every seed added the same noise) and data parallel equals
/// one rank, each replica drawing its rows of the whole batch's noise (before, its own rows: measured 0.3 off). SDXL
/// and HunyuanDiT have the same check in their own tests.
/// </summary>
public class DdpmStepNoiseTests(ITestOutputHelper output)
{
    const string Ddpm = """
        {"_class_name": "DDPMScheduler", "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
         "clip_sample": false, "timestep_spacing": "leading", "steps_offset": 1}
        """;

    [Theory]
    [InlineData("pixart")]
    [InlineData("sana")]
    public void UnderDdpmTheStepNoiseFollowsTheSeedAndDataParallelEqualsOneRank(string model)
    {
        // (folder, latent values per image at the asked size): PixArt 4 × (64/8)², SANA 8 × (16/4 · 24/4)
        var (folder, perImage, height, width) = model == "pixart"
            ? (CopyOfPixArt(), 4 * 8 * 8, 64, 64)
            : (SanaTestFolder.Create(), 8 * 4 * 6, 16, 24);
        File.WriteAllText(Path.Combine(folder, "scheduler", "scheduler_config.json"), Ddpm);
        var request = new GenerationRequest
        {
            Prompts = new[] { "a red cat", "cat" }, NumInferenceSteps = 3, Seed = 5, Height = height, Width = width,
            Latents = Enumerable.Range(0, 2 * perImage).Select(i => MathF.Sin(i)).ToArray(),
        };
        // a short instruction keeps SANA's text encoder quick (it is not what this test is about)
        static void Short(TextToImagePipeline p, int _)
        {
            if (p is SanaPipeline sana) sana.ComplexHumanInstruction = ["Describe the picture:", "User Prompt: "];
        }
        float[] serial, reseeded;
        using (var pipeline = PipelineLoader.Load(folder))
        {
            Short((TextToImagePipeline)pipeline, 0);
            serial = Pixels(pipeline.Generate(request));
            reseeded = Pixels(pipeline.Generate(request with { Seed = 6 }));
        }
        Assert.True(Numerics.RelativeError(reseeded, serial) > 1e-4, $"{model}: DDPM's step noise does not follow the seed");
        var parallel = Pixels(ParallelGeneration.Run(folder, new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, request, onRankPipeline: Short).Result);
        double err = Numerics.RelativeError(parallel, serial);
        output.WriteLine($"{model} data2 under DDPM: rel {err:E3} against one rank");
        Assert.True(err <= 1e-6, $"{model} data2 under DDPM: relative error {err:G3} against one rank");
    }

    /// <summary>The pixart pipeline fixture copied (its links' targets as files), so its scheduler can be replaced.</summary>
    static string CopyOfPixArt()
    {
        var dir = TestPaths.TempDir();
        Cli.GenerateCommandTests.CopyDirectory(TestPaths.Fixture("pipe_pixart_sigma"), dir);
        return dir;
    }
}
