using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>StableDiffusionXLPipeline on the tiny synthetic folder (<see cref="SD3FluxTestFolders.Sdxl"/>).</summary>
public class SdxlPipelineTests(ITestOutputHelper output)
{
    static GenerationRequest Request(string? negative = null) => new()
    {
        Prompts = new[] { "red cat" }, NegativePrompt = negative, NumInferenceSteps = 2, Seed = 5, Height = 16, Width = 24,
    };

    [Fact]
    public void LoadsAsTheSdxlPipelineAndDrawsAnImageOfTheAskedSize()
    {
        using var pipeline = PipelineLoader.Load(SD3FluxTestFolders.Sdxl());
        Assert.IsType<SdxlPipeline>(pipeline);
        var result = pipeline.Generate(Request());
        var image = Assert.Single(result.Images);
        Assert.Equal((16, 24), (image.Height, image.Width));
        Assert.All(image.Pixels, p => Assert.InRange(p, 0f, 1f));
        Assert.True(image.Pixels.Max() - image.Pixels.Min() > 1e-3, "the image is flat");
    }

    /// <summary>diffusers' StableDiffusionXLPipeline (0.40.0.dev0 on cpuref, float32) on this very synthetic folder,
    /// from tests/fixtures/sdxl_synthetic/reference.safetensors' in.latents: "red cat", 3 steps, guidance 5, 16x24,
    /// without a negative prompt (zeros) and with negative_prompt "cat".</summary>
    [Theory]
    [InlineData("zeros", null)]
    [InlineData("negative", "cat")]
    public void MatchesDiffusersOnTheSyntheticFolder(string name, string? negative)
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.Fixture("sdxl_synthetic"), "reference.safetensors"));
        using var latents = reference.ReadF32("in.latents");
        using var expected = reference.ReadF32($"out.{name}.images");
        using var pipeline = PipelineLoader.Load(SD3FluxTestFolders.Sdxl());
        var result = pipeline.Generate(Request(negative) with { NumInferenceSteps = 3, GuidanceScale = 5f, Latents = latents.ToFloatArray() });
        double err = Numerics.RelativeError(Pixels(result), expected.ToFloatArray());
        output.WriteLine($"sdxl_synthetic {name}: images rel {err:E3}");
        Assert.True(err < 1e-4, $"{name}: relative error {err:G3} against diffusers");
    }

    /// <summary>Latents the UNet's two downsamplings do not divide: 18x22 px, 9x11 latents (9 → 5 → 3 and 11 → 6 → 3,
    /// so the up blocks resize 3 → 5 → 9 and 3 → 6 → 11, as diffusers forwards upsample_size). diffusers' pipeline
    /// arithmetic on cpuref (float32; the same script reproduces reference.safetensors exactly) on this folder, from
    /// odd_size.safetensors' in.latents, "red cat", negative "cat", 3 steps, guidance 5 (its check_inputs' multiple
    /// of 8 left out: this VAE's factor is 2, SDXL's 8 makes the two rules one).</summary>
    [Fact]
    public void MatchesDiffusersAtLatentsTheDownsamplingDoesNotDivide()
    {
        double err = OddSizeError(SD3FluxTestFolders.Sdxl(), null);
        output.WriteLine($"sdxl_synthetic 18x22: images rel {err:E3}");
        Assert.True(err < 1e-4, $"18x22: relative error {err:G3} against diffusers");
    }

    /// <summary>The relative error of the 18x22 generation on <paramref name="ops"/> (the CPU when null) against
    /// odd_size.safetensors.</summary>
    public static double OddSizeError(string folder, IOps? ops)
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.Fixture("sdxl_synthetic"), "odd_size.safetensors"));
        using var latents = reference.ReadF32("in.latents");
        using var expected = reference.ReadF32("out.negative.images");
        using var pipeline = ops is null ? PipelineLoader.Load(folder) : PipelineLoader.Load(folder, ops, ownsOps: false);
        var result = pipeline.Generate(Request("cat") with { NumInferenceSteps = 3, GuidanceScale = 5f, Height = 18, Width = 22, Latents = latents.ToFloatArray() });
        Assert.Equal((18, 22), (result.Images[0].Height, result.Images[0].Width));
        return Numerics.RelativeError(Pixels(result), expected.ToFloatArray());
    }

    [Fact]
    public void ASizeTheVaeFactorDoesNotDivideIsRefusedNamingIt()
    {
        using var pipeline = PipelineLoader.Load(SD3FluxTestFolders.Sdxl());
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(Request() with { Height = 17 }));
        Assert.Contains("multiples of 2 (the VAE factor), got 17x24", e.Message);
    }

    [Fact]
    public void WithoutANegativePromptTheUnconditionalRowsAreZerosAndAnEmptyOneIsEncoded()
    {
        // force_zeros_for_empty_prompt: no negative prompt → zero embeddings; "" → the encoded empty prompt
        using var pipeline = PipelineLoader.Load(SD3FluxTestFolders.Sdxl());
        pipeline.Trace = new PipelineTrace();
        var zeros = Pixels(pipeline.Generate(Request()));
        var embeds = pipeline.Trace.Find("negative_prompt_embeds") ?? throw new InvalidOperationException("no negative_prompt_embeds traced");
        var pooled = pipeline.Trace.Find("negative_pooled_prompt_embeds") ?? throw new InvalidOperationException("no negative_pooled_prompt_embeds traced");
        Assert.Equal(new[] { 1, 77, 32 }, embeds.Shape);
        Assert.Equal(new[] { 1, 24 }, pooled.Shape);
        Assert.All(embeds.Values, v => Assert.Equal(0f, v));
        Assert.All(pooled.Values, v => Assert.Equal(0f, v));

        pipeline.Trace = new PipelineTrace();
        var empty = Pixels(pipeline.Generate(Request(negative: "")));
        Assert.Contains(pipeline.Trace.Find("negative_prompt_embeds")!.Values, v => v != 0f);
        Assert.True(Numerics.RelativeError(empty, zeros) > 1e-4, "an encoded empty negative prompt must differ from zeros");
    }

    /// <summary>The methods xDiT gives SDXL: CFG parallel (the negative rows on one rank, the positive on the other),
    /// data parallel (a prompt per replica) and both; each equals one rank.</summary>
    [Theory]
    [InlineData("cfg2")]
    [InlineData("data2")]
    [InlineData("data2-cfg2")]
    public void ParallelMethodsEqualOneRank(string mesh)
    {
        var folder = SD3FluxTestFolders.Sdxl();
        var request = Request(negative: "cat") with { Prompts = new[] { "red cat", "cat" } };
        var config = mesh switch
        {
            "cfg2" => new ParallelConfig { WorldSize = 2, UseCfgParallel = true },
            "data2" => new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 },
            _ => new ParallelConfig { WorldSize = 4, DataParallelDegree = 2, UseCfgParallel = true },
        };
        float[] serial;
        using (var pipeline = PipelineLoader.Load(folder)) serial = Pixels(pipeline.Generate(request));
        var parallel = Pixels(ParallelGeneration.Run(folder, config, request).Result);
        Assert.Equal(serial.Length, parallel.Length);
        double err = Numerics.RelativeError(parallel, serial);
        output.WriteLine($"{mesh}: rel {err:E3} against one rank");
        Assert.True(err < 1e-5, $"{mesh}: relative error {err:G3} against one rank");
    }

    /// <summary>With a DDPMScheduler in the folder (any diffusers scheduler fits SDXL), the step noise follows the
    /// request's seed and data parallel still equals one rank: each replica draws its rows of the batch's noise.</summary>
    [Fact]
    public void UnderDdpmTheStepNoiseFollowsTheSeedAndDataParallelEqualsOneRank()
    {
        var folder = SD3FluxTestFolders.Sdxl();
        File.WriteAllText(Path.Combine(folder, "scheduler", "scheduler_config.json"), """
            {"_class_name": "DDPMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
             "clip_sample": false, "timestep_spacing": "leading", "steps_offset": 1}
            """);
        var request = Request(negative: "cat") with { Prompts = new[] { "red cat", "cat" }, NumInferenceSteps = 3 };
        var latents = Enumerable.Range(0, 2 * 4 * 8 * 12).Select(i => MathF.Sin(i)).ToArray();
        float[] serial, reseeded;
        using (var pipeline = PipelineLoader.Load(folder))
        {
            serial = Pixels(pipeline.Generate(request with { Latents = latents }));
            reseeded = Pixels(pipeline.Generate(request with { Latents = latents, Seed = 6 }));
        }
        Assert.True(Numerics.RelativeError(reseeded, serial) > 1e-4, "DDPM's step noise does not follow the seed");
        var parallel = Pixels(ParallelGeneration.Run(folder, new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, request with { Latents = latents }).Result);
        double err = Numerics.RelativeError(parallel, serial);
        output.WriteLine($"data2 under DDPM: rel {err:E3} against one rank");
        Assert.True(err <= 1e-6, $"data2 under DDPM: relative error {err:G3} against one rank");
    }

    [Fact]
    public void SequenceParallelIsRefusedWithTheMethodsThatWorkNamed()
    {
        var e = Assert.ThrowsAny<Exception>(() => ParallelGeneration.Run(SD3FluxTestFolders.Sdxl(),
            new ParallelConfig { WorldSize = 2, RingDegree = 2 }, Request()));
        Assert.Contains("CFG parallel", Flatten(e));
    }

    [Fact]
    public void TheUNetSeesTheEulerScaledLatentsAndTheSizeConditioning()
    {
        // the first step's UNet input is x·init_noise_sigma/√(σ₀² + 1) and its time_ids (H, W, 0, 0, H, W) for every row
        using var pipeline = (SdxlPipeline)PipelineLoader.Load(SD3FluxTestFolders.Sdxl());
        var recorder = new FirstInputRecorder(pipeline.Ops);
        pipeline.Loop = new StandardDenoiseLoop(recorder);
        var latents = Enumerable.Range(0, 4 * 8 * 12).Select(i => MathF.Sin(i)).ToArray();
        pipeline.Generate(Request() with { Latents = latents });
        var euler = new EulerDiscreteScheduler(EulerDiscreteOptions.FromConfig(
            JsonConfig.Load(Path.Combine(pipeline.Index.Dir, "scheduler", "scheduler_config.json"))));
        euler.SetTimesteps(2);
        float d = MathF.Sqrt(euler.Sigmas[0] * euler.Sigmas[0] + 1f), init = euler.InitNoiseSigma;
        Assert.True(d > 1.2f && init > 1.2f, $"σ₀ {euler.Sigmas[0]} and init_noise_sigma {init} should scale the input");
        // prepare_latents multiplies given latents by init_noise_sigma too, then each step divides by √(σ² + 1)
        var expected = latents.Concat(latents).Select(v => v * init / d).ToArray();
        Assert.Equal(expected, recorder.Sample!);
        Assert.Equal(new float[] { 16, 24, 0, 0, 16, 24, 16, 24, 0, 0, 16, 24 }, recorder.TimeIds!);
    }

    [Fact]
    public void AMissingEncoderOrMismatchedWidthsFailWithOneLineNamingTheFolder()
    {
        var missing = SD3FluxTestFolders.Sdxl();
        Directory.Delete(Path.Combine(missing, "text_encoder_2"), recursive: true);
        var e1 = Assert.ThrowsAny<Exception>(() => PipelineLoader.Load(missing));
        Assert.Contains("text_encoder_2", e1.Message);
        Assert.DoesNotContain('\n', e1.Message);

        var wide = SD3FluxTestFolders.Sdxl();
        SD3FluxTestFolders.ClipModel(Path.Combine(wide, "text_encoder"), hidden: 16, heads: 2, layers: 2, projection: null, act: "quick_gelu", seed: 6);
        var e2 = Assert.ThrowsAny<Exception>(() => PipelineLoader.Load(wide));
        Assert.Contains("cross_attention_dim 32", e2.Message);
        Assert.Contains("16 + 20", e2.Message);   // both CLIP widths
        Assert.DoesNotContain('\n', e2.Message);
    }

    static string Flatten(Exception e) => e is AggregateException a ? string.Join(" | ", a.Flatten().InnerExceptions.Select(Flatten)) : e.Message + (e.InnerException is { } i ? " | " + Flatten(i) : "");

    /// <summary>Runs the model on one rank and keeps a host copy of the first step's sample and time_ids.</summary>
    sealed class FirstInputRecorder(IOps ops) : IDenoiseExecutor
    {
        public float[]? Sample { get; private set; }
        public float[]? TimeIds { get; private set; }

        public Tensor Predict(IOps o, DiffusionTransformer model, DitInputs inputs, int step)
        {
            if (step == 0)
            {
                Sample = ops.ToHost(inputs.HiddenStates);
                TimeIds = inputs.TimeIds?.ToArray();
            }
            return model.Forward(o, inputs);
        }
    }
}

/// <summary>`xdit generate --model` on the synthetic SDXL folder, through PipelineLoader.</summary>
[Collection("Console")]
public class SdxlGenerateCommandTests
{
    [Fact]
    public void GenerateDrawsThroughTheModelFolder()
    {
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", SD3FluxTestFolders.Sdxl(), "--prompt", "a red cat", "--steps", "2",
            "--height", "16", "--width", "24", "--output", output, "--json");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.True(File.Exists(output));
        using var summary = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal(2, summary.RootElement.GetProperty("steps").GetInt32());
    }
}
