using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Vae.HunyuanVideo;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class HunyuanVideoVaeTests
{
    readonly ITestOutputHelper _out;
    public HunyuanVideoVaeTests(ITestOutputHelper output) => _out = output;

    static string Dir => TestPaths.Fixture("hunyuanvideo_vae");
    static string ShortcutDir => TestPaths.Fixture("hunyuanvideo_vae_shortcut");

    /// <summary>diffusers' decode of 2 latent frames (4×4) → 5 frames of 32×32, tiling and framewise decoding off
    /// (hunyuanvideo_vae); and what it leaves out (hunyuanvideo_vae_shortcut, made with cpuref by its make_case.py):
    /// a resnet that narrows the channels (conv_shortcut) ahead of a time-doubling upsampler, one resnet per up block,
    /// 3 latent frames under the mid block's frame mask, a non-square latent (2×3) → 9 frames of 16×24.</summary>
    [Theory]
    [InlineData("hunyuanvideo_vae")]
    [InlineData("hunyuanvideo_vae_shortcut")]
    public void DecodeMatchesDiffusers(string fixture) => VideoVaeChecks.FixtureMatchesDiffusers(fixture, _out);

    /// <summary>The mid block's attention, per frame over a prefix of the keys, equals one attention under the mask
    /// diffusers builds (prepare_causal_attention_mask: key j hidden from query i when j's frame is later than i's), and
    /// differs from the unmasked attention (so the mask matters at these sizes).</summary>
    [Fact]
    public void MidAttentionEqualsTheCausalFrameMask()
    {
        using var ops = new CpuOps();
        using var source = Checkpoint.Open(ShortcutDir);
        using var weights = new ModelWeights(source, ops);
        var attention = new HunyuanVideoMidAttention(weights.Root.Pp("decoder.mid_block.attentions.0"), 8, 2);
        int t = 3, h = 2, w = 3, n = h * w, tokens = t * n, c = 8;
        using var x = ops.FromHost(Numerics.Random(c * tokens, seed: 7), 1, c, t, h, w);
        using var got = attention.Forward(ops, x);

        var mask = new float[tokens * tokens];
        for (int i = 0; i < tokens; i++)
            for (int j = 0; j < tokens; j++)
                mask[i * tokens + j] = j / n <= i / n ? 0f : float.NegativeInfinity;
        using var bias = ops.FromHost(mask, 1, 1, tokens, tokens);
        using var masked = Reference(ops, attention, x, new AttentionOptions { Bias = bias });
        using var unmasked = Reference(ops, attention, x, null);
        double err = Numerics.RelativeError(ops.ToHost(got), ops.ToHost(masked));
        Assert.True(err < 1e-6, $"per-frame attention differs from the masked one by {err:E3}");
        double diff = Numerics.RelativeError(ops.ToHost(got), ops.ToHost(unmasked));
        Assert.True(diff > 1e-3, $"the frame mask changed nothing (relative difference {diff:E3})");
    }

    /// <summary>x + to_out(attention(GN(x) tokens)) in one call with <paramref name="options"/>.</summary>
    static Tensor Reference(IOps ops, HunyuanVideoMidAttention a, Tensor x, AttentionOptions? options)
    {
        int c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), tokens = t * h * w;
        using var normed = ops.GroupNorm(x, a.Norm.Groups, a.Norm.Weight, a.Norm.Bias, a.Norm.Eps);
        using var seq = ops.Contiguous(normed.Reshape(1, c, tokens).Permute(0, 2, 1));
        using var q = a.Q.Apply(ops, seq);
        using var k = a.K.Apply(ops, seq);
        using var v = a.V.Apply(ops, seq);
        using var o = ops.Attention(q.Reshape(1, tokens, 1, c), k.Reshape(1, tokens, 1, c), v.Reshape(1, tokens, 1, c), options);
        using var p = a.Out.Apply(ops, o.Reshape(1, tokens, c));
        return ops.Add(x, p.Reshape(1, t, h, w, c).Permute(0, 4, 1, 2, 3));
    }

    /// <summary>With a gather budget of one element every convolution runs one frame per Conv2d call (the chunked path
    /// real sizes take at full resolution): the same video.</summary>
    [Fact]
    public void FrameChunkedConvolutionsDecodeTheSameVideo()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLHunyuanVideo.Load(ShortcutDir, ops);
        using var io = new SafetensorsFile(Path.Combine(ShortcutDir, "io.safetensors"));
        using var z = io.ReadF32("in.z");
        VideoVaeChecks.FrameChunkedDecodesTheSameVideo(VideoVae.Of(vae), ops, z);
    }

    /// <summary>Two videos in one call decode each as if alone (the frame-major gathers interleave the batch;
    /// GroupNorm's statistics and the attention stay per video).</summary>
    [Fact]
    public void BatchOfTwoDecodesEachVideoAsAlone()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLHunyuanVideo.Load(ShortcutDir, ops);
        using var z = ops.FromHost(Numerics.Random(2 * 4 * 2 * 2 * 3, seed: 5), 2, 4, 2, 2, 3);
        VideoVaeChecks.BatchOfTwoDecodesEachVideoAsAlone(VideoVae.Of(vae), ops, z, [2, 3, 5, 16, 24]);
    }

    /// <summary>The pipeline holds latents [B, F, C, h, w]; a permuted view of them decodes as z itself.</summary>
    [Fact]
    public void FrameMajorLatentsDecodeThroughAPermutedView()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLHunyuanVideo.Load(Dir, ops);
        VideoVaeChecks.FrameMajorLatentsDecodeThroughAPermutedView(VideoVae.Of(vae), ops, Dir);
    }

    /// <summary>One latent frame decodes to one frame (the upsamplers' first frame alone, no time doubling left).</summary>
    [Fact]
    public void OneLatentFrameDecodesToOneFrame()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLHunyuanVideo.Load(Dir, ops);
        using var z = ops.FromHost(Numerics.Random(4 * 3 * 2, seed: 2), 1, 4, 1, 3, 2);
        using var video = vae.Decode(ops, z);
        Assert.Equal([1, 3, 1, 24, 16], video.Dims);
        Assert.All(ops.ToHost(video), v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>The estimate covers what a decode allocates at its peak beyond the weights, and is within 2× of it:
    /// both cases, the whole frames in one convolution call and one frame per call.</summary>
    [Theory]
    [InlineData("hunyuanvideo_vae", 2, 4, 4, false)]
    [InlineData("hunyuanvideo_vae", 3, 4, 6, false)]
    [InlineData("hunyuanvideo_vae_shortcut", 3, 2, 3, false)]
    [InlineData("hunyuanvideo_vae_shortcut", 3, 2, 3, true)]
    public void MemoryEstimateBoundsTheMeasuredPeak(string fixture, int frames, int h, int w, bool framePerCall)
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLHunyuanVideo.Load(TestPaths.Fixture(fixture), ops);
        if (framePerCall) vae.ConvGatherElements = 1;
        VideoVaeChecks.MemoryEstimateBoundsThePeak(VideoVae.Of(vae), ops, fixture, frames, h, w, cpu: true, _out);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 5)]
    [InlineData(3, 9)]
    [InlineData(33, 129)]
    public void OutputFramesAreFourPerLatentFrameAfterTheFirst(int latentFrames, int frames)
    {
        var c = HunyuanVideoVaeConfig.Load(Path.Combine(Dir, "config.json"));
        Assert.Equal(frames, c.OutputFrames(latentFrames));
    }

    /// <summary>diffusers' defaults are HunyuanVideo's VAE: the blocks' upsamplers (space in the first three, time in
    /// the middle two), 8× in space.</summary>
    [Fact]
    public void DefaultsAreHunyuanVideos()
    {
        var c = HunyuanVideoVaeConfig.From(JsonConfig.Parse("{}", "vae/config.json"));
        Assert.Equal(16, c.LatentChannels);
        Assert.Equal(512, c.MidChannels);
        Assert.Equal([512, 512, 512, 256], Enumerable.Range(0, 4).Select(c.UpInChannels));
        Assert.Equal([512, 512, 256, 128], Enumerable.Range(0, 4).Select(c.UpOutChannels));
        Assert.Equal([true, true, true, false], Enumerable.Range(0, 4).Select(c.UpsamplesSpace));
        Assert.Equal([false, true, true, false], Enumerable.Range(0, 4).Select(c.UpsamplesTime));
        Assert.Equal(8, c.SpatialFactor);
        Assert.Equal(0.476986, c.ScalingFactor);
        Assert.True(c.MidBlockAddAttention);
    }

    [Theory]
    [InlineData("""{"_class_name": "AutoencoderKLCogVideoX"}""", "_class_name")]
    [InlineData("""{"act_fn": "gelu"}""", "act_fn")]
    [InlineData("""{"up_block_types": ["HunyuanVideoUpBlock3D"]}""", "up_block_types")]
    [InlineData("""{"up_block_types": ["UpDecoderBlock2D", "HunyuanVideoUpBlock3D", "HunyuanVideoUpBlock3D", "HunyuanVideoUpBlock3D"]}""", "UpDecoderBlock2D")]
    [InlineData("""{"temporal_compression_ratio": 8}""", "temporal_compression_ratio")]
    [InlineData("""{"spatial_compression_ratio": 6}""", "spatial_compression_ratio")]
    [InlineData("""{"spatial_compression_ratio": 32}""", "spatial_compression_ratio")]
    [InlineData("""{"block_out_channels": [8, 12], "norm_num_groups": 8}""", "norm_num_groups")]
    [InlineData("""{"block_out_channels": []}""", "block_out_channels")]
    public void UnsupportedConfigIsRefusedWithFileAndKeyNamed(string json, string key)
        => VideoVaeChecks.UnsupportedConfigIsRefused(HunyuanVideoVaeConfig.From, json, key);

    /// <summary>Without the mid block's attention its weights are not asked for (a tiny config on random weights:
    /// every other tensor is asked for with its shape, so random weights at any size load).</summary>
    [Fact]
    public void MidBlockWithoutAttentionLoadsNone()
    {
        var config = HunyuanVideoVaeConfig.From(JsonConfig.Parse(
            """{"block_out_channels": [4, 4, 4, 4], "norm_num_groups": 2, "latent_channels": 4, "layers_per_block": 1, "mid_block_add_attention": false}""", "vae/config.json"));
        using var ops = new CpuOps();
        using var source = new RandomCheckpoint("tiny HunyuanVideo VAE", DType.F32, contains: name => !name.Contains("attentions"));
        using var vae = AutoencoderKLHunyuanVideo.Load(config, source, ops);
        Assert.Null(vae.MidBlock.Attention);
        using var z = ops.FromHost(Numerics.Random(4 * 2 * 2 * 2, seed: 3), 1, 4, 2, 2, 2);
        using var video = vae.Decode(ops, z);
        Assert.Equal([1, 3, 5, 16, 16], video.Dims);
    }

    /// <summary>Tiled and framewise decoding are refused by name, by the model and by the fixture runner.</summary>
    [Theory]
    [InlineData(true, false, "use_tiling")]
    [InlineData(false, true, "use_framewise_decoding")]
    public void TilingAndFramewiseDecodingAreRefused(bool tiling, bool framewise, string key)
    {
        var e = Assert.Throws<NotSupportedException>(() => AutoencoderKLHunyuanVideo.RefuseTiling(tiling, framewise, "request"));
        Assert.Contains(key, e.Message);
        AutoencoderKLHunyuanVideo.RefuseTiling(false, false, "request");   // neither asked: nothing thrown

        var dir = Directory.CreateTempSubdirectory("hyvae-meta").FullName;
        try
        {
            foreach (var f in new[] { "config.json", "diffusion_pytorch_model.safetensors", "io.safetensors" })
                File.Copy(Path.Combine(Dir, f), Path.Combine(dir, f));
            File.WriteAllText(Path.Combine(dir, "meta.json"),
                $$"""{"model": "AutoencoderKLHunyuanVideo", "op": "decode", "use_tiling": {{(tiling ? "true" : "false")}}, "use_framewise_decoding": {{(framewise ? "true" : "false")}}}""");
            using var ops = new CpuOps();
            var r = Assert.Throws<NotSupportedException>(() => FixtureVerifier.Verify(dir, ops));
            Assert.Contains("meta.json", r.Message);
            Assert.Contains(key, r.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData(new[] { 1, 4, 4, 4 })]          // no frame axis
    [InlineData(new[] { 1, 8, 2, 4, 4 })]       // latent_channels 4
    [InlineData(new[] { 1, 4, 0, 4, 4 })]       // no frames
    [InlineData(new[] { 1, 4, 2, 0, 4 })]       // no rows
    public void LatentsOfTheWrongShapeAreRefused(int[] shape)
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLHunyuanVideo.Load(Dir, ops);
        VideoVaeChecks.LatentsAreRefused(VideoVae.Of(vae), ops, shape);
    }
}
