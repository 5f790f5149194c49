using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Kernels.Cpu;
using XDit.Models.Clip;
using XDit.Models.T5;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Pipelines;

/// <summary>StableDiffusion3Pipeline end to end on a tiny synthetic folder (see <see cref="SD3FluxTestFolders"/>).</summary>
public class SD3PipelineTests
{
    static readonly Lazy<string> Folder = new(() => SD3FluxTestFolders.SD3());
    static readonly Lazy<string> FolderNoT5 = new(() => SD3FluxTestFolders.SD3(withT5: false));

    static GenerationRequest Request(params string[] prompts) => new() { Prompts = prompts, NumInferenceSteps = 3, Height = 16, Width = 24 };

    [Fact]
    public void LoadsThroughThePipelineLoaderAndDrawsImagesOfTheAskedSizeInZeroOne()
    {
        using var pipeline = PipelineLoader.Load(Folder.Value);
        var sd3 = Assert.IsType<SD3Pipeline>(pipeline);
        Assert.True(sd3.HasT5);
        Assert.Equal(28, pipeline.DefaultSteps);
        Assert.Equal(7.0f, pipeline.DefaultGuidanceScale);
        Assert.Equal(4, pipeline.SizeMultiple);       // VAE factor 2 × patch 2
        Assert.Equal(16, pipeline.DefaultSize);       // sample_size 8 × VAE factor 2

        var result = pipeline.Generate(Request("a red cat", "blue dog") with { NumImagesPerPrompt = 2 });
        Assert.Equal(4, result.Images.Count);
        Assert.Equal((16, 24, 3), (result.Height, result.Width, result.Steps));
        PipelineAssertions.ImagesOfSizeInZeroOne(result, 16, 24);
        // Different prompts draw different pictures from different noise.
        Assert.True(Numerics.MaxAbsError(result.Images[0].Pixels, result.Images[2].Pixels) > 1e-3);
    }

    [Fact]
    public void TheDefaultSizeIsSampleSizeTimesTheVaeFactor()
    {
        using var pipeline = PipelineLoader.Load(Folder.Value);
        var result = pipeline.Generate(new GenerationRequest { Prompts = ["a cat"], NumInferenceSteps = 1 });
        Assert.Equal((16, 16), (result.Images[0].Height, result.Images[0].Width));
    }

    [Fact]
    public void TheSameSeedGivesTheSameImageAndAnotherSeedAnother()
    {
        using var pipeline = PipelineLoader.Load(Folder.Value);
        PipelineAssertions.SameSeedSameImageAnotherSeedAnother(pipeline, Request("a red cat"));
    }

    [Fact]
    public void GuidanceJustAboveOneMatchesTheUnguidedRunAndAStrongScaleDoesNot()
    {
        // Scale 1 runs one unguided batch; 1.0001 runs [negative; positive] rows and combines them, so it must land
        // next to the unguided image whatever the negative prompt is (it would land near the negative prompt's image
        // if the halves were swapped). Scale 7 must differ, or the check proves nothing.
        using var pipeline = PipelineLoader.Load(Folder.Value);
        var rec = new SD3FluxStepRecorder();
        pipeline.Loop = new StandardDenoiseLoop(rec);
        var plain = pipeline.Generate(Request("a red cat") with { GuidanceScale = 1f }).Images[0].Pixels;
        Assert.Equal(1, rec.Steps[0].Hidden[0]);
        rec.Steps.Clear();
        var near = pipeline.Generate(Request("a red cat") with { GuidanceScale = 1.0001f, NegativePrompt = "blue dog" }).Images[0].Pixels;
        Assert.Equal(2, rec.Steps[0].Hidden[0]);
        var strong = pipeline.Generate(Request("a red cat") with { GuidanceScale = 7f, NegativePrompt = "blue dog" }).Images[0].Pixels;
        Assert.True(Numerics.MaxAbsError(near, plain) < 1e-3, $"max abs difference {Numerics.MaxAbsError(near, plain):G3}");
        Assert.True(Numerics.MaxAbsError(strong, plain) > 1e-2);
    }

    [Fact]
    public void EachRowOfABatchEqualsItsPromptRunAlone()
    {
        using var pipeline = PipelineLoader.Load(Folder.Value);
        var noise = XDit.Engine.Samplers.NoiseGenerator.Normal(2 * 4 * 8 * 12, 11);
        var both = pipeline.Generate(Request("a red cat", "blue dog") with { Latents = noise });
        var second = pipeline.Generate(Request("blue dog") with { Latents = noise[(4 * 8 * 12)..] });
        Assert.True(Numerics.MaxAbsError(both.Images[1].Pixels, second.Images[0].Pixels) < 1e-4);
    }

    [Fact]
    public void TheTransformerGetsSigmaTimes1000AndTheGuidanceRows()
    {
        using var pipeline = PipelineLoader.Load(Folder.Value);
        var rec = new SD3FluxStepRecorder();
        pipeline.Loop = new StandardDenoiseLoop(rec);
        pipeline.Generate(Request("a red cat") with { NumInferenceSteps = 2, MaxSequenceLength = 10 });
        // SD3 scheduler (shift 3), 2 steps: σ = shift(linspace(1, shift(0.001))) → 1.0 and shift³-ish of 0.003 end.
        Assert.Equal(2, rec.Steps.Count);
        Assert.Equal(new[] { 1000f, 1000f }, rec.Steps[0].Timestep);
        Assert.Equal(new[] { 2, 4, 8, 12 }, rec.Steps[0].Hidden);
        Assert.Equal(new[] { 2, 77 + 10, 24 }, rec.Steps[0].Context);
        Assert.Equal(new[] { 2, 20 }, rec.Steps[0].Pooled);
        double s = 0.0029940119760479; // shift 3 applied to 0.001 (the table's σ_min), then again by set_timesteps
        double twice = 3 * s / (1 + 2 * s);
        Assert.Equal(twice * 1000, rec.Steps[1].Timestep[0], 2);
    }

    [Fact]
    public void ThePromptEmbeddingsAreTheClipFeaturesZeroPaddedThenT5AndThePooledProjections()
    {
        // Independent: load the encoders and tokenizers on their own and assemble what diffusers' encode_prompt does.
        var dir = Folder.Value;
        using var ops = new CpuOps();
        using var pipeline = (SD3Pipeline)PipelineLoader.Load(dir);
        var texts = new[] { "a red cat", "" };
        var (ctx, pooled) = pipeline.EncodePrompts(texts, 16);
        using var _c = ctx;
        using var _p = pooled;
        Assert.Equal(new[] { 2, 77 + 16, 24 }, ctx.Dims);
        Assert.Equal(new[] { 2, 20 }, pooled.Dims);
        var got = pipeline.Ops.ToHost(ctx);
        var gotPooled = pipeline.Ops.ToHost(pooled);

        using var clipL = ClipTextModel.Load(Path.Combine(dir, "text_encoder"), ops);
        using var clipG = ClipTextModel.Load(Path.Combine(dir, "text_encoder_2"), ops);
        using var t5 = T5Encoder.Load(Path.Combine(dir, "text_encoder_3"), ops);
        var (idsL, _) = ClipTokenizer.Load(Path.Combine(dir, "tokenizer")).Encode(texts, 77);
        var (idsG, _) = ClipTokenizer.Load(Path.Combine(dir, "tokenizer_2")).Encode(texts, 77);
        Assert.Equal(0, idsG[76]);          // CLIP-G pads with "!" (id 0), CLIP-L with the end token
        Assert.Equal(idsL[76], ClipTokenizer.Load(Path.Combine(dir, "tokenizer")).EosId);
        var tok3 = TokenizerLoader.Load(Path.Combine(dir, "tokenizer_3")).Encode(texts, 16);
        using var outL = clipL.Encode(ops, idsL, 2, 77);
        using var outG = clipG.Encode(ops, idsG, 2, 77);
        using var outT5 = t5.Encode(ops, tok3.Ids, null, 2, 16);
        float[] l = ops.ToHost(outL.PenultimateHiddenState), g = ops.ToHost(outG.PenultimateHiddenState), t = ops.ToHost(outT5);

        var want = new float[2 * 93 * 24];
        for (int b = 0; b < 2; b++)
        {
            for (int s = 0; s < 77; s++)
            {
                Array.Copy(l, (b * 77 + s) * 8, want, (b * 93 + s) * 24, 8);
                Array.Copy(g, (b * 77 + s) * 12, want, (b * 93 + s) * 24 + 8, 12);   // 20..23 stay zero
            }
            Array.Copy(t, b * 16 * 24, want, (b * 93 + 77) * 24, 16 * 24);
        }
        Assert.True(Numerics.RelativeError(got, want) < 1e-6);
        var pl = ops.ToHost(outL.TextEmbeds!);
        var pg = ops.ToHost(outG.TextEmbeds!);
        var wantPooled = new float[40];
        for (int b = 0; b < 2; b++)
        {
            Array.Copy(pl, b * 8, wantPooled, b * 20, 8);
            Array.Copy(pg, b * 12, wantPooled, b * 20 + 8, 12);
        }
        Assert.True(Numerics.RelativeError(gotPooled, wantPooled) < 1e-6);
    }

    /// <summary>diffusers' _get_t5_prompt_embeds without text_encoder_3: zeros of [rows, max_sequence_length,
    /// joint_attention_dim] (checked with diffusers 0.40.0.dev0 on pipe_sd3: 77 + 256 = 333 tokens).</summary>
    [Fact]
    public void WithoutT5ItsTokensAreMaxSequenceLengthZeros()
    {
        using var pipeline = (SD3Pipeline)PipelineLoader.Load(FolderNoT5.Value);
        Assert.False(pipeline.HasT5);
        var (ctx, pooled) = pipeline.EncodePrompts(["a red cat"], 256);
        using var _c = ctx;
        using var _p = pooled;
        Assert.Equal(new[] { 1, 77 + 256, 24 }, ctx.Dims);
        var v = pipeline.Ops.ToHost(ctx);
        Assert.All(v[(77 * 24)..], x => Assert.Equal(0f, x));
        Assert.Contains(v[..(77 * 24)], x => x != 0f);

        var result = pipeline.Generate(Request("a red cat"));
        Assert.All(result.Images[0].Pixels, x => Assert.InRange(x, 0f, 1f));
    }

    [Fact]
    public void AMissingComponentFolderIsNamed()
    {
        PipelineAssertions.MissingComponentIsNamed(SD3FluxTestFolders.SD3(), "text_encoder_2");
    }

    [Theory]
    [InlineData(18, 24)]
    [InlineData(16, 26)]
    public void ASizeThatIsNotAMultipleOfVaeFactorTimesPatchIsRefused(int height, int width)
    {
        using var pipeline = PipelineLoader.Load(Folder.Value);
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(Request("a cat") with { Height = height, Width = width }));
        Assert.Contains("multiples of 4", e.Message);
        Assert.Contains($"{height}x{width}", e.Message);
    }

    [Fact]
    public void AT5LengthAbove512IsRefused()
    {
        using var pipeline = PipelineLoader.Load(Folder.Value);
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(Request("a cat") with { MaxSequenceLength = 513 }));
        Assert.Contains("513", e.Message);
    }
}
