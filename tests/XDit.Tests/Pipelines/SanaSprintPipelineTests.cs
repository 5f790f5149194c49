using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Sana;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>SanaSprintPipeline, its transformer (guidance embedding, q/k norms across heads) and SCMScheduler on the
/// tiny synthetic folder (<see cref="SanaSprintTestFolder"/>), against diffusers on cpuref
/// (tests/fixtures/sana_sprint_synthetic, whose README says how the reference was made).</summary>
public class SanaSprintPipelineTests(ITestOutputHelper output)
{
    static GenerationRequest Request() => new()
    {
        Prompts = new[] { "A red cat" }, Seed = 5, Height = 16, Width = 24,
    };

    static SafetensorsFile Reference() => new(Path.Combine(TestPaths.Fixture("sana_sprint_synthetic"), "reference.safetensors"));

    [Fact]
    public void LoadsAsTheSprintPipelineAndDrawsInTwoStepsByDefault()
    {
        using var pipeline = PipelineLoader.Load(SanaSprintTestFolder.Create());
        Assert.IsType<SanaSprintPipeline>(pipeline);
        Assert.Equal(2, pipeline.DefaultSteps);
        Assert.Equal(4.5f, pipeline.DefaultGuidanceScale);
        int steps = 0;
        pipeline.Progress += (_, p) => { if (p.Stage == "denoise") steps++; };
        var result = pipeline.Generate(Request());
        Assert.Equal(2, steps);
        var image = Assert.Single(result.Images);
        Assert.Equal((16, 24), (image.Height, image.Width));
        Assert.True(image.Pixels.Max() - image.Pixels.Min() > 1e-3, "the image is flat");
    }

    /// <summary>diffusers' SanaSprintPipeline arithmetic (0.40.0.dev0's models on cpuref, float32) on this very
    /// folder from the reference's in.latents, "A red cat", 16x24, binning off, guidance 4.5 at the default 2 steps
    /// ([1.5708, 1.3, 0]) and guidance 3 at 3 steps (linspace(1.5708, 0, 4)). The SCM step noise is the engine's
    /// seeded stream (seed 6, one past the request's), which the reference script drew with the same Philox
    /// definition.</summary>
    [Theory]
    [InlineData("steps2", 2, 4.5f)]
    [InlineData("steps3", 3, 3f)]
    public void MatchesDiffusersOnTheSyntheticFolder(string name, int steps, float guidance)
    {
        using var reference = Reference();
        using var latents = reference.ReadF32("in.latents");
        using var expected = reference.ReadF32($"out.{name}.images");
        using var pipeline = PipelineLoader.Load(SanaSprintTestFolder.Create());
        var result = pipeline.Generate(Request() with { NumInferenceSteps = steps, GuidanceScale = guidance, Latents = latents.ToFloatArray() });
        double err = Numerics.RelativeError(Pixels(result), expected.ToFloatArray());
        output.WriteLine($"sana_sprint_synthetic {name}: images rel {err:E3}");
        Assert.True(err < 1e-4, $"{name}: relative error {err:G3} against diffusers");
    }

    /// <summary>The transformer alone (SanaTransformer2DModel with guidance_embeds and qk_norm
    /// "rms_norm_across_heads") on two rows of different timestep and guidance, the second with padded caption
    /// tokens, against diffusers' forward on cpuref.</summary>
    [Fact]
    public void TransformerWithGuidanceAndQkNormMatchesDiffusers()
    {
        using var ops = new CpuOps();
        double err = TransformerError(ops);
        output.WriteLine($"sana sprint transformer: rel {err:E3}");
        Assert.True(err < 1e-4, $"transformer relative error {err:G3} against diffusers");
    }

    /// <summary>Relative error of the Sprint transformer's forward on <paramref name="ops"/> against the reference's
    /// tr.out (also run on emulated CUDA); a forward without its guidance values is refused in one line.</summary>
    internal static double TransformerError(XDit.Kernels.IOps ops)
    {
        using var reference = Reference();
        using var model = SanaTransformer.Load(Path.Combine(SanaSprintTestFolder.Create(), "transformer"), ops);
        Assert.True(model.Config.GuidanceEmbeds && model.Config.QkNorm);
        Tensor Host(string key) { using var t = reference.ReadF32(key); return ops.FromHost(t.ToFloatArray(), t.Dims); }
        float[] Values(string key) { using var t = reference.ReadF32(key); return t.ToFloatArray(); }
        using var hidden = Host("tr.hidden_states");
        using var text = Host("tr.encoder_hidden_states");
        using var mask = Host("tr.encoder_attention_mask");
        using var result = model.Forward(ops, new DitInputs
        {
            HiddenStates = hidden, EncoderHiddenStates = text, EncoderAttentionMask = mask,
            Timestep = Values("tr.timestep"), Guidance = Values("tr.guidance"),
        });
        var e = Assert.Throws<ArgumentException>(() => model.Forward(ops, new DitInputs
        {
            HiddenStates = hidden, EncoderHiddenStates = text, Timestep = Values("tr.timestep"),
        }));
        Assert.Contains("guidance", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return Numerics.RelativeError(ops.ToHost(result), Values("tr.out"));
    }

    /// <summary>Ulysses over 2 ranks (each holding 12 of the 4x6 latent tokens; the q/k norms run on each rank's
    /// rows before the all-to-all), and PipeFusion over 2 stages × 2 patches with warm-up on every step (each patch
    /// band stepped by its own TrigFlow-wrapped SCM scheduler, handed its band of the step noise), equal one rank in
    /// float32; so does data parallel over two prompts, each replica drawing the SCM step noise at its rows' place in
    /// the whole batch (drawn over its own rows, the second image differed). A short instruction keeps the text
    /// encoder quick.</summary>
    [Theory]
    [InlineData("ulysses2")]
    [InlineData("pipefusion2")]
    [InlineData("data2")]
    public void ParallelMethodsEqualOneRank(string mesh)
    {
        var folder = SanaSprintTestFolder.Create();
        void Short(TextToImagePipeline p, int _) => ((SanaSprintPipeline)p).ComplexHumanInstruction = ["Describe the picture in detail:", "User Prompt: "];
        var config = mesh switch
        {
            "ulysses2" => new ParallelConfig { WorldSize = 2, UlyssesDegree = 2 },
            "pipefusion2" => new ParallelConfig { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2, WarmupSteps = 2 },
            _ => new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 },
        };
        var request = mesh == "data2" ? Request() with { Prompts = new[] { "A red cat", "a blue dog" } } : Request();
        var serial = Pixels(ParallelGeneration.Run(folder, new ParallelConfig { WorldSize = 1 }, request, onRankPipeline: Short).Result);
        var run = ParallelGeneration.Run(folder, config, request, onRankPipeline: Short);
        if (mesh == "pipefusion2") Assert.True(run.StaleKvBytesPerRank > 0, "the stages kept no stale sums or rows");
        var parallel = Pixels(run.Result);
        Assert.Equal(serial.Length, parallel.Length);
        double err = Numerics.RelativeError(parallel, serial);
        output.WriteLine($"{mesh}: rel {err:E3} against one rank");
        Assert.True(err < 1e-5, $"{mesh}: relative error {err:G3} against one rank");
    }

    [Theory]
    [InlineData("qk_norm", "\"rms_norm\"", "qk_norm 'rms_norm' is not supported")]
    [InlineData("guidance_embeds", "\"yes\"", "guidance_embeds")]
    public void ABadTransformerConfigFailsWithOneLineNamingFileAndKey(string key, string json, string expected)
    {
        var folder = SanaSprintTestFolder.Create();
        var config = Path.Combine(folder, "transformer", "config.json");
        SD3FluxTestFolders.EditConfig(config, c => c[key] = System.Text.Json.Nodes.JsonNode.Parse(json));
        var e = Assert.ThrowsAny<Exception>(() => PipelineLoader.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains(config, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>A Sprint transformer under SanaPipeline (CFG, no guidance values) and a Sprint pipeline over another
    /// scheduler are refused at load, in one line naming what to change.</summary>
    [Theory]
    [InlineData("pipeline", "should name SanaSprintPipeline")]
    [InlineData("scheduler", "SanaSprintPipeline samples with SCMScheduler")]
    public void AMismatchedFolderIsRefusedAtLoad(string what, string expected)
    {
        var folder = SanaSprintTestFolder.Create();
        if (what == "pipeline")
            SD3FluxTestFolders.EditConfig(Path.Combine(folder, "model_index.json"), c => c["_class_name"] = "SanaPipeline");
        else
            File.Copy(Path.Combine(SanaTestFolder.Create(), "scheduler", "scheduler_config.json"), Path.Combine(folder, "scheduler", "scheduler_config.json"), overwrite: true);
        var e = Assert.ThrowsAny<Exception>(() => PipelineLoader.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>No classifier-free guidance: a negative prompt (and Flux's true CFG) is refused before any step.</summary>
    [Theory]
    [InlineData("negative", "negative_prompt: SanaSprintPipeline has no negative prompt")]
    [InlineData("true_cfg", "true_cfg_scale is a Flux and Qwen-Image option; SanaSprintPipeline guides with guidance_scale")]
    public void CfgOptionsAreRefusedBeforeAnyStep(string option, string message)
    {
        using var pipeline = PipelineLoader.Load(SanaSprintTestFolder.Create());
        int progress = 0;
        pipeline.Progress += (_, _) => progress++;
        var request = option == "negative" ? Request() with { NegativePrompt = "blurry" } : Request() with { TrueCfgScale = 4f, NegativePrompt = "x" };
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(request));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(0, progress);
    }

    /// <summary>diffusers' max_timesteps and intermediate_timesteps as request options: the same picture as the
    /// pipeline's properties set to them, another than the defaults'; an intermediate angle with 3 steps is refused
    /// before any step, as diffusers refuses it.</summary>
    [Fact]
    public void TheRequestsAnglesDrawAsThePipelinesPropertiesDo()
    {
        using var pipeline = (SanaSprintPipeline)PipelineLoader.Load(SanaSprintTestFolder.Create());
        var byDefault = Pixels(pipeline.Generate(Request()));
        var asked = Pixels(pipeline.Generate(Request() with { MaxTimesteps = 1.5, IntermediateTimesteps = 1.1 }));
        pipeline.MaxTimesteps = 1.5;
        pipeline.IntermediateTimesteps = 1.1;
        Assert.Equal(Pixels(pipeline.Generate(Request())), asked);
        Assert.True(Numerics.RelativeError(asked, byDefault) > 1e-3, "the asked angles changed nothing");
        int progress = 0;
        pipeline.Progress += (_, _) => progress++;
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(Request() with { NumInferenceSteps = 3, IntermediateTimesteps = 1.1 }));
        Assert.Contains("intermediate_timesteps 1.1 is only for 2 inference steps", e.Message);
        Assert.Equal(0, progress);
        Assert.Contains("intermediate_timesteps must lie between 0 and max_timesteps",
            Assert.Throws<ArgumentException>(() => pipeline.Generate(Request() with { IntermediateTimesteps = 2.0 })).Message);
    }
}

/// <summary>SCMScheduler's schedule and step, from diffusers' scheduling_scm.py.</summary>
public class SCMSchedulerTests
{
    static SCMScheduler Make() => (SCMScheduler)SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "SCMScheduler", "sigma_data": 0.5}"""));

    [Fact]
    public void TwoStepsRunThroughTheIntermediateAngleAndOthersAreEvenlySpaced()
    {
        var s = Make();
        s.SetTimesteps(2);
        Assert.Equal(new[] { 1.5708f, 1.3f, 0f }, s.Sigmas);
        Assert.Equal(new[] { 1.5708f, 1.3f }, s.Timesteps);
        s.SetTimesteps(4);
        Assert.Equal(new[] { 1.5708f, 1.5708f * 3 / 4, 1.5708f / 2, 1.5708f / 4, 0f }, s.Sigmas, (a, b) => Math.Abs(a - b) < 1e-6f);
        Assert.Throws<ArgumentException>(() => s.SetTimesteps(3, 1.5708, 1.3));
    }

    /// <summary>x₀ = cos(s)·x − sin(s)·F, then cos(t)·x₀ + sin(t)·σ_d·z: the last step (t = 0) gives x₀ whatever the
    /// noise, an earlier one mixes the noise in.</summary>
    [Fact]
    public void AStepPredictsX0AndRenoisesToTheNextAngle()
    {
        var s = Make();
        s.SetTimesteps(2);
        float x = 0.8f, f = -0.3f, z = 1.7f;
        var sample = new[] { x };
        s.Step(new[] { f }, 1, sample, new[] { z });
        float x0 = MathF.Cos(1.3f) * x - MathF.Sin(1.3f) * f;
        Assert.Equal(x0, sample[0], 6);
        sample[0] = x;
        s.Step(new[] { f }, 0, sample, new[] { z });
        float x0First = MathF.Cos(1.5708f) * x - MathF.Sin(1.5708f) * f;
        Assert.Equal(MathF.Cos(1.3f) * x0First + MathF.Sin(1.3f) * 0.5f * z, sample[0], 6);
    }

    [Fact]
    public void ANonTrigflowPredictionTypeIsRefused()
    {
        var e = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig(JsonConfig.Parse("""{"_class_name": "SCMScheduler", "prediction_type": "epsilon"}""")));
        Assert.Contains("prediction_type", e.Message);
    }
}

/// <summary>`xdit generate --model` on the synthetic SANA Sprint folder, through PipelineLoader.</summary>
[Collection("Console")]
public class SanaSprintGenerateCommandTests
{
    [Fact]
    public void GenerateDrawsThroughTheModelFolder()
    {
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", SanaSprintTestFolder.Create(), "--prompt", "a red cat",
            "--height", "16", "--width", "24", "--output", output, "--json", "--max-timesteps", "1.5", "--intermediate-timesteps", "1.1");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.True(File.Exists(output));
        using var summary = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal(2, summary.RootElement.GetProperty("steps").GetInt32());
    }
}
