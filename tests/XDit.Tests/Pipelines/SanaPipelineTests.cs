using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models.Gemma2;
using XDit.Models.Tokenizers;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>SanaPipeline on the tiny synthetic folder (<see cref="SanaTestFolder"/>).</summary>
public class SanaPipelineTests(ITestOutputHelper output)
{
    static GenerationRequest Request(string? negative = null) => new()
    {
        Prompts = new[] { "A red cat" }, NegativePrompt = negative, NumInferenceSteps = 2, Seed = 5, Height = 16, Width = 24,
    };

    /// <summary>A one-line instruction for the tests where the prompt rows only need to exist: the default one is
    /// ~980 of the synthetic tokenizer's tokens through Gemma on every rank, most of those tests' time. The default
    /// itself is held to diffusers by <see cref="MatchesDiffusersOnTheSyntheticFolder"/> and
    /// <see cref="PromptEmbeddingsKeepTheFirstAndTheLastStatesBehindTheInstruction"/>.</summary>
    static void ShortInstruction(TextToImagePipeline p, int _ = 0) =>
        ((SanaPipeline)p).ComplexHumanInstruction = ["Describe the picture in detail:", "User Prompt: "];

    [Fact]
    public void LoadsAsTheSanaPipelineAndDrawsAnImageOfTheAskedSize()
    {
        using var pipeline = PipelineLoader.Load(SanaTestFolder.Create());
        Assert.IsType<SanaPipeline>(pipeline);
        Assert.Equal(32, pipeline.DefaultSize);
        ShortInstruction(pipeline);
        var result = pipeline.Generate(Request());
        var image = Assert.Single(result.Images);
        Assert.Equal((16, 24), (image.Height, image.Width));
        Assert.All(image.Pixels, p => Assert.InRange(p, 0f, 1f));
        Assert.True(image.Pixels.Max() - image.Pixels.Min() > 1e-3, "the image is flat");
    }

    /// <summary>The prompt rows are Gemma's states of instruction + prompt (lower-cased) at (instruction tokens +
    /// 300 − 2) tokens, of which position 0 and the last 299 are kept; the negative rows are the negative prompt alone
    /// at 300 tokens. Recomputed here from the tokenizer and the encoder directly.</summary>
    [Fact]
    public void PromptEmbeddingsKeepTheFirstAndTheLastStatesBehindTheInstruction()
    {
        var folder = SanaTestFolder.Create();
        using var pipeline = (SanaPipeline)PipelineLoader.Load(folder);
        pipeline.Trace = new PipelineTrace();
        pipeline.Generate(Request(negative: "Blurry ") with { NumInferenceSteps = 1 });
        var embeds = pipeline.Trace.Find("prompt_embeds") ?? throw new InvalidOperationException("no prompt_embeds traced");
        var negative = pipeline.Trace.Find("negative_prompt_embeds") ?? throw new InvalidOperationException("no negative_prompt_embeds traced");
        Assert.Equal(new[] { 1, 300, 32 }, embeds.Shape);
        Assert.Equal(new[] { 1, 300, 32 }, negative.Shape);

        var tokenizer = (IInspectableTokenizer)TokenizerLoader.Load(Path.Combine(folder, "tokenizer"));
        var instruction = string.Join("\n", SanaPipeline.DefaultComplexHumanInstruction);
        int total = tokenizer.EncodeUntruncated(instruction).Count + 298;
        Assert.True(total > 300, $"the instruction should be longer than the kept window, got {total} tokens");
        using var ops = new CpuOps();
        using var gemma = Gemma2Model.Load(Path.Combine(folder, "text_encoder"), ops);
        float[] Encode(string text, int length)
        {
            var t = tokenizer.Encode(new[] { text }, length);
            using var s = gemma.Encode(ops, t.Ids, t.Mask, 1, length);
            return ops.ToHost(s);
        }
        var full = Encode(instruction + "a red cat", total);
        var expectedPositive = new float[300 * 32];
        for (int j = 0; j < 300; j++)
            Array.Copy(full, (j == 0 ? 0 : total - 300 + j) * 32, expectedPositive, j * 32, 32);
        var expected = Encode("blurry", 300).Concat(expectedPositive).ToArray();
        double err = Numerics.RelativeError(negative.Values.Concat(embeds.Values).ToArray(), expected);
        output.WriteLine($"prompt_embeds rel {err:E3} ({total} tokens encoded for the prompt row)");
        Assert.True(err < 1e-6, $"prompt_embeds relative error {err:G3}");
    }

    /// <summary>diffusers' SanaPipeline arithmetic (0.40.0.dev0's models on cpuref, float32: Gemma2Model, the slow
    /// GemmaTokenizer padded on the right, SanaTransformer2DModel, DPMSolverMultistepScheduler, AutoencoderDC) on this
    /// very synthetic folder, from tests/fixtures/sana_synthetic/reference.safetensors' in.latents: "A red cat", 3 steps,
    /// guidance 4.5, 16x24, binning off, negative_prompt "" and "Blurry dog". The reference's pipeline class does not
    /// import there (its hub is too old for DiffusionPipeline), so its __call__ and encode_prompt were restated line
    /// for line with the default complex_human_instruction read from its source.</summary>
    [Theory]
    [InlineData("empty", "")]
    [InlineData("negative", "Blurry dog")]
    public void MatchesDiffusersOnTheSyntheticFolder(string name, string negative)
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.Fixture("sana_synthetic"), "reference.safetensors"));
        using var latents = reference.ReadF32("in.latents");
        using var expected = reference.ReadF32($"out.{name}.images");
        using var pipeline = PipelineLoader.Load(SanaTestFolder.Create());
        var result = pipeline.Generate(Request(negative) with { NumInferenceSteps = 3, GuidanceScale = 4.5f, Latents = latents.ToFloatArray() });
        double err = Numerics.RelativeError(Pixels(result), expected.ToFloatArray());
        output.WriteLine($"sana_synthetic {name}: images rel {err:E3}");
        Assert.True(err < 1e-4, $"{name}: relative error {err:G3} against diffusers");
    }

    /// <summary>CFG parallel (the negative rows on one rank, the positive on the other) and CFG × Ulysses through
    /// the whole pipeline, each equal to one rank in float32. The 16x24 picture is 4x6 = 24
    /// latent tokens, which split over 2 ranks.</summary>
    [Theory]
    [InlineData("cfg2")]
    [InlineData("cfg2-ulysses2")]
    public void ParallelMethodsEqualOneRank(string mesh)
    {
        var folder = SanaTestFolder.Create();
        // one prompt, and a short instruction on every rank (ShortInstruction): the text rows are encoded whole on
        // each rank, so their length changes nothing the meshes split
        var request = Request(negative: "dog");
        var config = mesh switch
        {
            "cfg2" => new ParallelConfig { WorldSize = 2, UseCfgParallel = true },
            "ulysses2" => new ParallelConfig { WorldSize = 2, UlyssesDegree = 2 },
            _ => new ParallelConfig { WorldSize = 4, UseCfgParallel = true, UlyssesDegree = 2 },
        };
        float[] serial;
        using (var pipeline = PipelineLoader.Load(folder))
        {
            ShortInstruction(pipeline);
            serial = Pixels(pipeline.Generate(request));
        }
        var parallel = Pixels(ParallelGeneration.Run(folder, config, request, onRankPipeline: ShortInstruction).Result);
        Assert.Equal(serial.Length, parallel.Length);
        double err = Numerics.RelativeError(parallel, serial);
        output.WriteLine($"{mesh}: rel {err:E3} against one rank");
        Assert.True(err < 1e-5, $"{mesh}: relative error {err:G3} against one rank");
    }

    [Fact]
    public void AMissingVaeFailsWithOneLineNamingIt()
    {
        var folder = SanaTestFolder.Create();
        Directory.Delete(Path.Combine(folder, "vae"), recursive: true);
        var e = Assert.ThrowsAny<Exception>(() => PipelineLoader.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains("vae", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ATransformerOfAnotherCaptionWidthFailsWithOneLine()
    {
        var folder = SanaTestFolder.Create();
        // the transformer's config says 16 caption channels where its weights and Gemma give 32
        SD3FluxTestFolders.EditConfig(Path.Combine(folder, "transformer", "config.json"), c => c["caption_channels"] = 16);
        var e = Assert.ThrowsAny<Exception>(() => PipelineLoader.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains("caption", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

/// <summary>`xdit generate --model` on the synthetic SANA folder, through PipelineLoader.</summary>
[Collection("Console")]
public class SanaGenerateCommandTests
{
    [Fact]
    public void GenerateDrawsThroughTheModelFolder()
    {
        var output = Path.Combine(TestPaths.TempDir(), "out.png");
        var (code, stdout, stderr) = CliRunner.Xdit("generate", "--model", SanaTestFolder.Create(), "--prompt", "a red cat", "--steps", "2",
            "--height", "16", "--width", "24", "--output", output, "--json");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.True(File.Exists(output));
        using var summary = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal(2, summary.RootElement.GetProperty("steps").GetInt32());
    }
}
