using XDit.Kernels.Cpu;
using XDit.Models.Vae.Wan;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class WanVaeTests
{
    readonly ITestOutputHelper _out;
    public WanVaeTests(ITestOutputHelper output) => _out = output;

    static string Dir => TestPaths.Fixture("wan_vae");
    static string FramesDir => TestPaths.Fixture("wan_vae_frames");

    /// <summary>wan_vae: diffusers' decode of 2 latent frames, one at a time: the first through both time-doubling
    /// upsamplers as one frame (their time_conv skipped), the second as four from the causal convolutions' cache →
    /// 5 frames. wan_vae_frames (cpuref, its make_case.py): 3 latent frames (the third from caches the second
    /// filled), upsample3d / upsample2d / upsample3d, conv_shortcut, z_dim 4, decoder_base_dim, a 2×3 latent → 9
    /// frames, two fifths of the values clamped.</summary>
    [Theory]
    [InlineData("wan_vae")]
    [InlineData("wan_vae_frames")]
    public void DecodeMatchesDiffusers(string fixture) => VideoVaeChecks.FixtureMatchesDiffusers(fixture, _out);

    /// <summary>wan_vae_encode (cpuref, its make_case.py): vae.encode(x).latent_dist of a 9-frame video, its first
    /// frame alone then two chunks of 4 frames through downsample3d / downsample2d / downsample3d → 3 latent frames;
    /// the decoder's tensors are not in the file and not read.</summary>
    [Fact]
    public void EncodeMatchesDiffusers() => VideoVaeChecks.FixtureMatchesDiffusers("wan_vae_encode", _out, tensors: 2);

    /// <summary>The encoder is causal too: the first chunk's latent frame of a 9-frame video is that of its first
    /// frame alone, and frames past the last whole chunk of 4 are left out, as diffusers leaves them.</summary>
    [Fact]
    public void EncoderIsCausalAndDropsAPartialChunk()
    {
        var dir = TestPaths.Fixture("wan_vae_encode");
        using var ops = new CpuOps();
        using var encoder = WanVaeEncoder.Load(dir, ops);
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var x = io.ReadF32("in.sample");
        using var all = encoder.Encode(ops, x);
        using var first = encoder.Encode(ops, x.Slice(2, 0, 1));
        Assert.Equal([1, 4, 1, 2, 3], first.Mean.Dims);
        Assert.Equal(ops.ToHost(first.Mean), ops.ToHost(all.Mean.Slice(2, 0, 1)));
        using var partial = encoder.Encode(ops, x.Slice(2, 0, 7));   // 1 + 4 + 2 frames: the last 2 are left out
        Assert.Equal([1, 4, 2, 2, 3], partial.Mean.Dims);
        Assert.Equal(ops.ToHost(all.Mean.Slice(2, 0, 2)), ops.ToHost(partial.Mean));
        Assert.Equal(3, encoder.LatentFrames(9));
    }

    /// <summary>With a gather budget of one element every convolution and upsampler runs one frame per Conv2d call
    /// (the chunked path real sizes take at full resolution): the same video.</summary>
    [Fact]
    public void FrameChunkedConvolutionsDecodeTheSameVideo()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(FramesDir, ops);
        using var io = new SafetensorsFile(Path.Combine(FramesDir, "io.safetensors"));
        using var z = io.ReadF32("in.z");
        VideoVaeChecks.FrameChunkedDecodesTheSameVideo(VideoVae.Of(vae), ops, z);
    }

    /// <summary>Two videos in one call decode each as if alone (the frame-major gathers interleave the batch; the
    /// norms and the attention stay per pixel and per frame).</summary>
    [Fact]
    public void BatchOfTwoDecodesEachVideoAsAlone()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(FramesDir, ops);
        using var z = ops.FromHost(Numerics.Random(2 * 4 * 3 * 2 * 3, seed: 5), 2, 4, 3, 2, 3);
        VideoVaeChecks.BatchOfTwoDecodesEachVideoAsAlone(VideoVae.Of(vae), ops, z, [2, 3, 9, 16, 24]);
    }

    /// <summary>A causal decoder: the video of the first two latent frames is the first 1 + 4 frames of the video
    /// of three, and the last four frames depend on the earlier latent frames through the caches (decoding the
    /// third latent frame after other ones changes them).</summary>
    [Fact]
    public void LaterLatentFramesDoNotChangeEarlierVideoFrames()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(FramesDir, ops);
        var values = Numerics.Random(4 * 3 * 2 * 3, seed: 11);
        using var z = ops.FromHost(values, 1, 4, 3, 2, 3);
        using var all = vae.Decode(ops, z);
        using var firstTwo = vae.Decode(ops, z.Slice(2, 0, 2));
        Assert.Equal([1, 3, 5, 16, 24], firstTwo.Dims);
        Assert.Equal(ops.ToHost(firstTwo), ops.ToHost(all.Slice(2, 0, 5)));
        var other = (float[])values.Clone();
        for (int c = 0; c < 4; c++)
            for (int p = 0; p < 6; p++) other[(c * 3 + 1) * 6 + p] += 1f;   // latent frame 1 moved
        using var z2 = ops.FromHost(other, 1, 4, 3, 2, 3);
        using var moved = vae.Decode(ops, z2);
        Assert.Equal(ops.ToHost(all.Slice(2, 0, 1)), ops.ToHost(moved.Slice(2, 0, 1)));
        double diff = Numerics.RelativeError(ops.ToHost(moved.Slice(2, 5, 4)), ops.ToHost(all.Slice(2, 5, 4)));
        Assert.True(diff > 1e-3, $"the last latent frame's video ignores the frame before it (relative difference {diff:E3}): no cache");
    }

    /// <summary>The pipeline's map of its latents to z: latents · latents_std + latents_mean, channel by channel.</summary>
    [Fact]
    public void LatentsToZScalesAndShiftsEachChannel()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(FramesDir, ops);
        var values = Numerics.Random(2 * 4 * 2 * 2 * 3, seed: 9);
        using var latents = ops.FromHost(values, 2, 4, 2, 2, 3);
        using var z = vae.LatentsToZ(ops, latents);
        var got = ops.ToHost(z);
        double[] mean = [0.1, -0.2, 0.3, 0.0], std = [1.5, 0.5, 2.0, 1.0];
        for (int i = 0; i < values.Length; i++)
        {
            int c = i / 12 % 4;
            Assert.Equal(values[i] * std[c] + mean[c], got[i], 5);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 5)]
    [InlineData(21, 81)]
    public void OutputFramesAreFourPerLatentFrameAfterTheFirst(int latentFrames, int frames)
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(Dir, ops);
        Assert.Equal(frames, vae.OutputFrames(latentFrames));
    }

    /// <summary>The estimate covers what a decode allocates at its peak beyond the weights, and is within 2× of it,
    /// with whole frames per convolution call and with one frame per call.</summary>
    [Theory]
    [InlineData("wan_vae", 2, 4, 4, false)]
    [InlineData("wan_vae", 3, 4, 6, false)]
    [InlineData("wan_vae_frames", 3, 2, 3, false)]
    [InlineData("wan_vae_frames", 3, 4, 4, true)]
    public void MemoryEstimateBoundsTheMeasuredPeak(string fixture, int frames, int h, int w, bool framePerCall)
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(TestPaths.Fixture(fixture), ops);
        if (framePerCall) vae.ConvGatherElements = 1;
        VideoVaeChecks.MemoryEstimateBoundsThePeak(VideoVae.Of(vae), ops, fixture, frames, h, w, cpu: true, _out);
    }

    [Fact]
    public void ConfigReadsTheFixtureKeys()
    {
        var c = WanVaeConfig.Load(Path.Combine(FramesDir, "config.json"));
        Assert.Equal(2, c.BaseDim);
        Assert.Equal(3, c.DecoderBaseDim);
        Assert.Equal(4, c.ZDim);
        Assert.Equal([1, 2, 2, 2], c.DimMult);
        Assert.Equal(6, c.MidChannels);
        Assert.Equal([6, 3, 3, 3], Enumerable.Range(0, 4).Select(c.UpInChannels));
        Assert.Equal([6, 6, 6, 3], Enumerable.Range(0, 4).Select(c.UpOutChannels));
        Assert.Equal([true, false, true, false], Enumerable.Range(0, 4).Select(c.UpsamplesTime));
        Assert.Equal(8, c.SpatialFactor);
        Assert.Equal(4, c.TemporalFactor);
        Assert.Equal([1.5, 0.5, 2.0, 1.0], c.LatentsStd);
        var wan21 = WanVaeConfig.Load(Path.Combine(Dir, "config.json"));
        Assert.Equal(3, wan21.DecoderBaseDim);   // null in the file: base_dim
        Assert.Equal(0.9653, wan21.LatentsMean[5]);
    }

    /// <summary>diffusers' defaults are Wan 2.1's VAE (base_dim 96, dim_mult [1, 2, 4, 4]).</summary>
    [Fact]
    public void DefaultsAreWan21s()
    {
        var c = WanVaeConfig.From(JsonConfig.Parse("{}", "vae/config.json"));
        Assert.Equal(384, c.MidChannels);
        Assert.Equal([384, 192, 192, 96], Enumerable.Range(0, 4).Select(c.UpInChannels));
        Assert.Equal([384, 384, 192, 96], Enumerable.Range(0, 4).Select(c.UpOutChannels));
        Assert.Equal([true, true, false, false], Enumerable.Range(0, 4).Select(c.UpsamplesTime));
        Assert.Equal(16, c.LatentsStd.Length);
    }

    [Theory]
    [InlineData("""{"_class_name": "AutoencoderKLCogVideoX"}""", "_class_name")]
    [InlineData("""{"is_residual": true}""", "is_residual")]
    [InlineData("""{"patch_size": 2}""", "patch_size")]
    [InlineData("""{"z_dim": 48}""", "latents_mean")]
    [InlineData("""{"dim_mult": [1, 2]}""", "temperal_downsample")]
    [InlineData("""{"temperal_downsample": [1, 0, 1]}""", "temperal_downsample")]
    [InlineData("""{"scale_factor_temporal": 8}""", "scale_factor_temporal")]
    [InlineData("""{"scale_factor_spatial": 16}""", "scale_factor_spatial")]
    [InlineData("""{"latents_std": [1, 1]}""", "latents_std")]
    [InlineData("""{"dropout": 1.5}""", "dropout")]
    [InlineData("""{"base_dim": 1, "dim_mult": [1, 1, 1, 1]}""", "0 channels")]
    public void UnsupportedConfigIsRefusedWithFileAndKeyNamed(string json, string key)
        => VideoVaeChecks.UnsupportedConfigIsRefused(WanVaeConfig.From, json, key);

    /// <summary>attn_scales shapes only the encoder: the decoder loads with it, the encoder refuses it in one line.</summary>
    [Fact]
    public void EncoderAttentionIsRefusedAndTheDecoderIgnoresIt()
    {
        var config = WanVaeConfig.From(JsonConfig.Parse("""{"base_dim": 4, "dim_mult": [1, 1], "temperal_downsample": [true], "scale_factor_temporal": 2, "scale_factor_spatial": 2, "attn_scales": [0.5]}""", "vae/config.json"));
        using var ops = new CpuOps();
        using var source = new RandomCheckpoint("tiny Wan VAE", DType.F32);
        using (AutoencoderKLWan.Load(config, source, ops)) { }
        var e = Assert.Throws<NotSupportedException>(() => WanVaeEncoder.Load(config, source, ops));
        Assert.Contains("vae/config.json", e.Message);
        Assert.Contains("attn_scales", e.Message);
    }

    [Fact]
    public void ZOfTheWrongShapeIsRefused()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(Dir, ops);
        VideoVaeChecks.LatentsAreRefused(VideoVae.Of(vae), ops, 1, 4, 2, 4, 4);
    }
}
