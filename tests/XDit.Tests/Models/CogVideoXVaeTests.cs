using XDit.Kernels.Cpu;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class CogVideoXVaeTests
{
    readonly ITestOutputHelper _out;
    public CogVideoXVaeTests(ITestOutputHelper output) => _out = output;

    static string Dir => TestPaths.Fixture("cogvideox_vae");

    /// <summary>diffusers' decode of 3 latent frames: one batch (the odd remainder joins the first), the first frame
    /// kept apart through both time-doubling up blocks and in every spatial norm → 9 frames.</summary>
    [Fact]
    public void DecodeMatchesDiffusers() => VideoVaeChecks.FixtureMatchesDiffusers("cogvideox_vae", _out);

    /// <summary>What the first case leaves out (cogvideox_vae_batches, made with cpuref by its make_case.py): 5 latent
    /// frames in two batches, 0–2 then 3–4, the second an even batch that starts from the causal convolutions' cache;
    /// a resnet that narrows the channels (conv_shortcut, up_blocks.3); a non-square latent (2×3) → 17 frames.</summary>
    [Fact]
    public void BatchedDecodeWithCacheAndShortcutMatchesDiffusers() => VideoVaeChecks.FixtureMatchesDiffusers("cogvideox_vae_batches", _out);

    /// <summary>With a gather budget of one element every convolution and upsampler runs one frame per Conv2d call
    /// (the chunked path real sizes take at full resolution): the same video.</summary>
    [Fact]
    public void FrameChunkedConvolutionsDecodeTheSameVideo()
    {
        var dir = TestPaths.Fixture("cogvideox_vae_batches");
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(dir, ops);
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var z = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        var chunked = VideoVaeChecks.FrameChunkedDecodesTheSameVideo(VideoVae.Of(vae), ops, z);
        double golden = Numerics.RelativeError(chunked, want.ToFloatArray());
        Assert.True(golden < 1e-4, $"frame-chunked decode: relative error {golden:E3} against diffusers");
    }

    /// <summary>Two videos in one call decode each as if alone (the frame-major gathers interleave the batch;
    /// GroupNorm's statistics stay per video), over two frame batches with the cache.</summary>
    [Fact]
    public void BatchOfTwoDecodesEachVideoAsAlone()
    {
        var dir = TestPaths.Fixture("cogvideox_vae_batches");
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(dir, ops);
        using var z = ops.FromHost(Numerics.Random(2 * 4 * 5 * 2 * 3, seed: 5), 2, 4, 5, 2, 3);
        VideoVaeChecks.BatchOfTwoDecodesEachVideoAsAlone(VideoVae.Of(vae), ops, z, [2, 3, 17, 16, 24]);
    }

    /// <summary>The pipeline holds latents [B, F, C, h, w]; a permuted view of them decodes in place, as z itself.</summary>
    [Fact]
    public void FrameMajorLatentsDecodeThroughAPermutedView()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(Dir, ops);
        VideoVaeChecks.FrameMajorLatentsDecodeThroughAPermutedView(VideoVae.Of(vae), ops, Dir);
    }

    [Theory]
    [InlineData(1, 2, new[] { 0, 1 })]
    [InlineData(2, 2, new[] { 0, 2 })]
    [InlineData(3, 2, new[] { 0, 3 })]
    [InlineData(4, 2, new[] { 0, 2, 2, 2 })]
    [InlineData(5, 2, new[] { 0, 3, 3, 2 })]
    [InlineData(13, 2, new[] { 0, 3, 3, 2, 5, 2, 7, 2, 9, 2, 11, 2 })]
    [InlineData(7, 3, new[] { 0, 4, 4, 3 })]
    public void FramesAreBatchedAsDiffusersDecodes(int frames, int batch, int[] startCount)
    {
        var got = CogVideoXFrames.Batches(frames, batch).SelectMany(b => new[] { b.Start, b.Count }).ToArray();
        Assert.Equal(startCount, got);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 8)]
    [InlineData(3, 9)]
    [InlineData(4, 16)]
    [InlineData(5, 17)]
    [InlineData(13, 49)]
    public void OutputFramesFollowTheBatches(int latentFrames, int frames)
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(Dir, ops);
        Assert.Equal(frames, vae.OutputFrames(latentFrames));
    }

    /// <summary>PyTorch's nearest index, including a ratio that is not a power of two (float32 arithmetic).</summary>
    [Theory]
    [InlineData(5, 4, 8, 2)]
    [InlineData(7, 4, 8, 3)]
    [InlineData(3, 2, 8, 0)]
    [InlineData(4, 2, 8, 1)]
    [InlineData(2, 3, 9, 0)]
    [InlineData(3, 3, 9, 1)]
    [InlineData(8, 3, 9, 2)]
    [InlineData(3, 3, 4, 2)]
    public void NearestSourceIsPyTorchs(int i, int input, int output, int source)
        => Assert.Equal(source, CogVideoXFrames.NearestSource(i, input, output));

    /// <summary>A causal decoder: the frames of the first batch do not depend on later latent frames, and the second
    /// batch's do depend on the first (through the convolutions' cache), so decoding 4 latent frames in batches of 2
    /// starts with exactly the 8 frames of the first two alone, and the rest differ from the last two decoded alone.</summary>
    [Fact]
    public void ConvCacheCarriesTheFirstBatchIntoTheSecond()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(Dir, ops);
        var values = Numerics.Random(4 * 4 * 3 * 3, seed: 11);
        using var z = ops.FromHost(values, 1, 4, 4, 3, 3);
        using var all = vae.Decode(ops, z);
        Assert.Equal([1, 3, 16, 24, 24], all.Dims);
        using var firstAlone = vae.Decode(ops, z.Slice(2, 0, 2));
        using var lastAlone = vae.Decode(ops, z.Slice(2, 2, 2));
        Assert.Equal(ops.ToHost(firstAlone), ops.ToHost(all.Slice(2, 0, 8)));
        double diff = Numerics.RelativeError(ops.ToHost(all.Slice(2, 8, 8)), ops.ToHost(lastAlone));
        Assert.True(diff > 1e-3, $"the second batch decoded as if alone (relative difference {diff:E3}): the cache was not used");
    }

    /// <summary>The estimate covers what a decode allocates at its peak beyond the weights, and is within 2× of it:
    /// one batch and two (4 and 5 latent frames), the whole frames in one call and one frame per call.</summary>
    [Theory]
    [InlineData("cogvideox_vae", 3, 4, 4, false)]
    [InlineData("cogvideox_vae", 4, 4, 6, false)]
    [InlineData("cogvideox_vae_batches", 5, 4, 4, false)]
    [InlineData("cogvideox_vae_batches", 5, 4, 4, true)]
    public void MemoryEstimateBoundsTheMeasuredPeak(string fixture, int frames, int h, int w, bool framePerCall)
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(TestPaths.Fixture(fixture), ops);
        if (framePerCall) vae.ConvGatherElements = 1;
        VideoVaeChecks.MemoryEstimateBoundsThePeak(VideoVae.Of(vae), ops, fixture, frames, h, w, cpu: true, _out);
    }

    [Fact]
    public void ConfigReadsTheFixtureKeys()
    {
        var c = CogVideoXVaeConfig.Load(Path.Combine(Dir, "config.json"));
        Assert.Equal(4, c.LatentChannels);
        Assert.Equal([8, 8, 8, 8], c.BlockOutChannels);
        Assert.Equal(1, c.LayersPerBlock);
        Assert.Equal(2, c.NormNumGroups);
        Assert.Equal(2, c.TimeUpsamplingBlocks);
        Assert.Equal(8, c.SpatialFactor);
        Assert.Equal(1.15258426, c.ScalingFactor, 8);
        Assert.True(c.ForceUpcast);
        Assert.Equal(9, c.FramesOfBatch(3));
        Assert.Equal(8, c.FramesOfBatch(2));
    }

    [Theory]
    [InlineData("""{"_class_name": "AutoencoderKL"}""", "_class_name")]
    [InlineData("""{"act_fn": "relu"}""", "act_fn")]
    [InlineData("""{"use_post_quant_conv": true}""", "use_post_quant_conv")]
    [InlineData("""{"block_out_channels": [8, 8], "up_block_types": ["CogVideoXUpBlock3D"]}""", "up_block_types")]
    [InlineData("""{"block_out_channels": [8, 8], "up_block_types": ["UpDecoderBlock2D", "CogVideoXUpBlock3D"]}""", "UpDecoderBlock2D")]
    [InlineData("""{"block_out_channels": [8, 12], "norm_num_groups": 8}""", "block_out_channels")]
    [InlineData("""{"block_out_channels": [8, 8], "norm_num_groups": 2, "temporal_compression_ratio": 4}""", "temporal_compression_ratio")]
    [InlineData("""{"temporal_compression_ratio": 3}""", "temporal_compression_ratio")]
    public void UnsupportedConfigIsRefusedWithFileAndKeyNamed(string json, string key)
        => VideoVaeChecks.UnsupportedConfigIsRefused(CogVideoXVaeConfig.From, json, key);

    [Fact]
    public void ZOfTheWrongShapeIsRefused()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(Dir, ops);
        VideoVaeChecks.LatentsAreRefused(VideoVae.Of(vae), ops, 1, 4, 4, 4);
    }
}
