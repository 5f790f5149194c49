using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;
using XDit.Kernels.Cpu;
using XDit.Models.Clip;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Pipelines;

/// <summary>FluxPipeline end to end on tiny synthetic folders (see <see cref="SD3FluxTestFolders"/>).</summary>
public class FluxPipelineTests
{
    static readonly Lazy<string> Dev = new(() => SD3FluxTestFolders.Flux(dev: true));
    static readonly Lazy<string> Schnell = new(() => SD3FluxTestFolders.Flux(dev: false));

    static GenerationRequest Request(params string[] prompts) => new() { Prompts = prompts, NumInferenceSteps = 3, Height = 16, Width = 24, MaxSequenceLength = 16 };

    [Fact]
    public void LoadsThroughThePipelineLoaderAndDrawsImagesOfTheAskedSizeInZeroOne()
    {
        using var pipeline = PipelineLoader.Load(Dev.Value);
        var flux = Assert.IsType<FluxPipeline>(pipeline);
        Assert.True(flux.UsesGuidanceEmbedding);
        Assert.Equal((28, 3.5f, 4, 256), (pipeline.DefaultSteps, pipeline.DefaultGuidanceScale, pipeline.SizeMultiple, pipeline.DefaultSize));

        var result = pipeline.Generate(Request("a red cat", "blue dog") with { MaxSequenceLength = null });   // T5 at 512
        Assert.Equal(2, result.Images.Count);
        Assert.Equal((16, 24, 3), (result.Height, result.Width, result.Steps));
        PipelineAssertions.ImagesOfSizeInZeroOne(result, 16, 24);
        Assert.True(Numerics.MaxAbsError(result.Images[0].Pixels, result.Images[1].Pixels) > 1e-3);
    }

    [Fact]
    public void TheSameSeedGivesTheSameImageAndAnotherSeedAnother()
    {
        using var pipeline = PipelineLoader.Load(Dev.Value);
        PipelineAssertions.SameSeedSameImageAnotherSeedAnother(pipeline, Request("a red cat"));
    }

    [Fact]
    public void TheTransformerGetsPackedLatentsPositionIdsSigmaAndTheGuidanceScale()
    {
        using var pipeline = PipelineLoader.Load(Dev.Value);
        var rec = new SD3FluxStepRecorder();
        pipeline.Loop = new StandardDenoiseLoop(rec);
        var noise = NoiseGenerator.Normal(4 * 8 * 12, 3);
        pipeline.Generate(Request("a red cat") with { NumInferenceSteps = 2, GuidanceScale = 2.5f, Latents = noise });

        Assert.Equal(2, rec.Steps.Count);
        var first = rec.Steps[0];
        Assert.Equal(new[] { 1, 4 * 6, 16 }, first.Hidden);             // latent 8×12 → 4×6 tokens of 4·2·2
        Assert.Equal(new[] { 1, 16, 24 }, first.Context);               // T5 tokens only
        Assert.Equal(new[] { 1, 20 }, first.Pooled);                    // CLIP pooler output
        Assert.Equal(new[] { 2.5f }, first.Guidance);
        Assert.Equal(new[] { 1f }, first.Timestep);                     // σ, not σ·1000
        // σ₁ = linspace(1, 1/2, 2)[1] = 0.5 shifted by μ: e^μ / (e^μ + 1/0.5 − 1) = sigmoid(μ).
        double mu = FlowMatchEulerDiscreteScheduler.CalculateShift(24);
        Assert.Equal(1 / (1 + Math.Exp(-mu)), rec.Steps[1].Timestep[0], 5);
        // The first input is the given noise, packed: token (i, j) holds channel c's 2×2 patch at feature c·4 + dy·2 + dx.
        for (int c = 0; c < 4; c++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 12; x++)
                    Assert.Equal(noise[(c * 8 + y) * 12 + x], first.HiddenValues[((y / 2) * 6 + x / 2) * 16 + c * 4 + (y % 2) * 2 + x % 2]);
        // img_ids (0, row, col) on the 4×6 grid; txt_ids all zero.
        Assert.Equal(new float[] { 0, 2, 5 }, first.ImgIds![(17 * 3)..(18 * 3)]);
        Assert.Equal(24 * 3, first.ImgIds.Length);
        Assert.All(first.TxtIds!, v => Assert.Equal(0f, v));
        Assert.Equal(16 * 3, first.TxtIds!.Length);
    }

    [Fact]
    public void MuFollowsTheImageTokenCount()
    {
        // calculate_shift: m = (1.15 − 0.5)/(4096 − 256), b = 0.5 − 256·m.
        Assert.Equal(0.5, FlowMatchEulerDiscreteScheduler.CalculateShift(256), 12);
        Assert.Equal(1.15, FlowMatchEulerDiscreteScheduler.CalculateShift(4096), 12);
        Assert.Equal(0.5 + (24 - 256) * 0.65 / 3840, FlowMatchEulerDiscreteScheduler.CalculateShift(24), 12);
        Assert.Equal(0.46072916666666667, FlowMatchEulerDiscreteScheduler.CalculateShift(24), 12);
    }

    [Fact]
    public void TheGuidanceScaleSteersDevButSchnellHasNoGuidanceInput()
    {
        using (var dev = PipelineLoader.Load(Dev.Value))
        {
            var low = dev.Generate(Request("a red cat") with { GuidanceScale = 1f }).Images[0].Pixels;
            var high = dev.Generate(Request("a red cat") with { GuidanceScale = 8f }).Images[0].Pixels;
            Assert.True(Numerics.MaxAbsError(low, high) > 1e-4);
        }
        using var schnell = PipelineLoader.Load(Schnell.Value);
        Assert.False(((FluxPipeline)schnell).UsesGuidanceEmbedding);
        var rec = new SD3FluxStepRecorder();
        schnell.Loop = new StandardDenoiseLoop(rec);
        var a = schnell.Generate(Request("a red cat") with { GuidanceScale = 1f, NumInferenceSteps = 4 }).Images[0].Pixels;
        var b = schnell.Generate(Request("a red cat") with { GuidanceScale = 8f, NumInferenceSteps = 4 }).Images[0].Pixels;
        Assert.Equal(a, b);
        Assert.Null(rec.Steps[0].Guidance);
        // Static shift 1: the schedule is linspace(1, 1/4, 4) as it is.
        Assert.Equal(new[] { 1f, 0.75f, 0.5f, 0.25f }, rec.Steps.Take(4).Select(s => s.Timestep[0]).ToArray());
    }

    [Fact]
    public void PackAndUnpackAreInversesAndMatchThePatchifyOps()
    {
        var x = Numerics.Random(2 * 3 * 6 * 8, 9);
        var packed = FluxLatents.Pack(x, 2, 3, 6, 8);
        Assert.Equal(x, FluxLatents.Unpack(packed, 2, 3, 6, 8));
        using var ops = new CpuOps();
        using var t = ops.FromHost(x, 2, 3, 6, 8);
        using var p = ops.Patchify(t, 2, channelsFirst: true);
        Assert.Equal(new[] { 2, 12, 12 }, p.Dims);
        Assert.Equal(ops.ToHost(p), packed);
        Assert.Throws<ArgumentException>(() => FluxLatents.Pack(new float[3 * 5 * 8], 1, 3, 5, 8));
    }

    [Fact]
    public void ThePooledInputIsClipsPoolerOutputAtTheEndToken()
    {
        var dir = Dev.Value;
        using var pipeline = (FluxPipeline)PipelineLoader.Load(dir);
        var (ctx, pooled) = pipeline.EncodePrompts(["a red cat"], 8);
        using var _c = ctx;
        using var _p = pooled;
        using var ops = new CpuOps();
        using var clip = ClipTextModel.Load(Path.Combine(dir, "text_encoder"), ops);
        var tok = ClipTokenizer.Load(Path.Combine(dir, "tokenizer"));
        var (ids, _) = tok.Encode(["a red cat"], 77);
        using var outClip = clip.Encode(ops, ids, 1, 77);
        var last = ops.ToHost(outClip.LastHiddenState);
        int eos = Array.IndexOf(ids, (long)tok.EosId);
        Assert.Equal(4, eos);   // <start> a red cat <end>: "red" and "cat" are single merged tokens
        Assert.True(Numerics.RelativeError(pipeline.Ops.ToHost(pooled), last[(eos * 20)..((eos + 1) * 20)]) < 1e-6);
        Assert.Equal(new[] { 1, 8, 24 }, ctx.Dims);
    }

    [Fact]
    public void AMissingComponentFolderIsNamed()
    {
        PipelineAssertions.MissingComponentIsNamed(SD3FluxTestFolders.Flux(), "tokenizer_2");
    }

    [Theory]
    [InlineData(18, 24)]
    [InlineData(16, 22)]
    public void ASizeThatIsNotAMultipleOfTwiceTheVaeFactorIsRefused(int height, int width)
    {
        using var pipeline = PipelineLoader.Load(Dev.Value);
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(Request("a cat") with { Height = height, Width = width }));
        Assert.Contains("multiples of 4", e.Message);
        Assert.Contains("2×2 latent packing", e.Message);
        Assert.Contains($"{height}x{width}", e.Message);
    }
}
