using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Vae.Ltx;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class LtxVaeTests
{
    readonly ITestOutputHelper _out;
    public LtxVaeTests(ITestOutputHelper output) => _out = output;

    /// <summary>ltx_vae (non-causal, timestep-conditioned) and ltx_vae_causal (causal, residual upsampler, conv_in,
    /// patch_size 2).</summary>
    static string Dir => TestPaths.Fixture("ltx_vae");
    static string CausalDir => TestPaths.Fixture("ltx_vae_causal");

    /// <summary>ltx_vae: diffusers' decode of 2 latent frames with the decode timestep 0.05 (×1000), widths 8, two
    /// depth-to-space upsamplers → 5 frames of 16×16. ltx_vae_causal (cpuref, its make_case.py): 3 latent frames of
    /// 2×3, causal padding, upsample_factor 2 with the residual, a width change through conv_in, patch_size 2 → 9
    /// frames of 16×24.</summary>
    [Theory]
    [InlineData("ltx_vae")]
    [InlineData("ltx_vae_causal")]
    public void DecodeMatchesDiffusers(string fixture) => VideoVaeChecks.FixtureMatchesDiffusers(fixture, _out);

    /// <summary>A causal decoder pads with copies of the first frame only, so no output frame reads a later input
    /// frame: the video of the first two latent frames is the first 5 frames of the video of three. The non-causal
    /// one pads one frame on each side, so its convolutions read one frame ahead: moving latent frame 1 moves video
    /// frame 0.</summary>
    [Fact]
    public void CausalPaddingReadsNoLaterFramesAndNonCausalDoes()
    {
        using var ops = new CpuOps();
        using (var vae = AutoencoderKLLTXVideo.Load(CausalDir, ops))
        {
            var values = Numerics.Random(4 * 3 * 2 * 3, seed: 11);
            using var z = ops.FromHost(values, 1, 4, 3, 2, 3);
            using var all = vae.Decode(ops, z);
            Assert.Equal([1, 3, 9, 16, 24], all.Dims);
            using var firstTwo = vae.Decode(ops, z.Slice(2, 0, 2));
            Assert.Equal([1, 3, 5, 16, 24], firstTwo.Dims);
            double err = Numerics.RelativeError(ops.ToHost(firstTwo), ops.ToHost(all.Slice(2, 0, 5)));
            Assert.True(err < 1e-6, $"causal: the first two latent frames' video differs from the three frames' first 5 by {err:E3}");
        }
        using (var vae = AutoencoderKLLTXVideo.Load(Dir, ops))
        {
            var values = Numerics.Random(8 * 2 * 4 * 4, seed: 12);
            using var z = ops.FromHost(values, 1, 8, 2, 4, 4);
            using var before = vae.Decode(ops, z, [0.05f]);
            for (int c = 0; c < 8; c++)
                for (int p = 0; p < 16; p++) values[(c * 2 + 1) * 16 + p] += 1f;   // latent frame 1 moved
            using var z2 = ops.FromHost(values, 1, 8, 2, 4, 4);
            using var after = vae.Decode(ops, z2, [0.05f]);
            double diff = Numerics.RelativeError(ops.ToHost(after.Slice(2, 0, 1)), ops.ToHost(before.Slice(2, 0, 1)));
            Assert.True(diff > 1e-3, $"non-causal: video frame 0 ignores latent frame 1 (relative difference {diff:E3})");
        }
    }

    /// <summary>With a gather budget of one element every convolution runs one output frame per Conv2d call: the
    /// same video.</summary>
    [Fact]
    public void FrameChunkedConvolutionsDecodeTheSameVideo()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLLTXVideo.Load(CausalDir, ops);
        using var io = new SafetensorsFile(Path.Combine(CausalDir, "io.safetensors"));
        using var z = io.ReadF32("in.z");
        VideoVaeChecks.FrameChunkedDecodesTheSameVideo(VideoVae.Of(vae), ops, z);
    }

    /// <summary>Two rows in one call, each with its own decode timestep, decode each as if alone; the timestep moves
    /// the video (every block's modulation reads it).</summary>
    [Fact]
    public void BatchOfTwoDecodesEachRowWithItsTimestep()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLLTXVideo.Load(Dir, ops);
        using var z = ops.FromHost(Numerics.Random(2 * 8 * 2 * 3 * 2, seed: 5), 2, 8, 2, 3, 2);
        float[] t = [0.05f, 0.5f];
        using var both = vae.Decode(ops, z, t);
        Assert.Equal([2, 3, 5, 12, 8], both.Dims);
        for (int i = 0; i < 2; i++)
        {
            using var alone = vae.Decode(ops, z.Slice(0, i, 1), [t[i]]);
            double err = Numerics.RelativeError(ops.ToHost(both.Slice(0, i, 1)), ops.ToHost(alone));
            Assert.True(err < 1e-6, $"row {i} of the batch differs from its decode alone by {err:E3}");
        }
        using var other = vae.Decode(ops, z.Slice(0, 0, 1), [0.5f]);
        double moved = Numerics.RelativeError(ops.ToHost(other), ops.ToHost(both.Slice(0, 0, 1)));
        Assert.True(moved > 1e-3, $"the decode timestep does not change the video (relative difference {moved:E3})");
        // one value serves every row
        using var shared = vae.Decode(ops, z, [0.05f]);
        Assert.Equal(ops.ToHost(both.Slice(0, 0, 1)), ops.ToHost(shared.Slice(0, 0, 1)));
    }

    /// <summary>A decoder without timestep conditioning ignores a timestep, as diffusers does.</summary>
    [Fact]
    public void UnconditionedDecoderIgnoresTheTimestep()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLLTXVideo.Load(CausalDir, ops);
        using var z = ops.FromHost(Numerics.Random(4 * 2 * 2 * 2, seed: 6), 1, 4, 2, 2, 2);
        using var without = vae.Decode(ops, z);
        using var with = vae.Decode(ops, z, [0.7f]);
        Assert.Equal(ops.ToHost(without), ops.ToHost(with));
    }

    [Fact]
    public void ConfigReadsTheFixtureKeys()
    {
        var c = LtxVaeConfig.Load(Path.Combine(Dir, "config.json"));
        Assert.Equal(8, c.LatentChannels);
        Assert.True(c.TimestepConditioning);
        Assert.False(c.DecoderCausal);
        Assert.Equal(1, c.PatchSize);
        Assert.Equal([false, false, true, true], Enumerable.Range(0, 4).Select(c.Upsamples));
        Assert.Equal(1, c.MidLayers);
        Assert.Equal(4, c.SpatialFactor);
        Assert.Equal(5, c.OutputFrames(2));
        Assert.Equal(["conv", "conv", "conv", "conv"], c.DownsampleType);
        Assert.Null(c.SpatialCompressionRatio);

        var k = LtxVaeConfig.Load(Path.Combine(CausalDir, "config.json"));
        Assert.True(k.DecoderCausal);
        Assert.False(k.TimestepConditioning);
        Assert.Equal(8, k.MidChannels);
        Assert.Equal([4, 4, 4], Enumerable.Range(0, 3).Select(k.UpInChannels));
        Assert.Equal([4, 4, 3], Enumerable.Range(0, 3).Select(k.UpOutChannels));
        Assert.Equal([2, 1, 1], Enumerable.Range(0, 3).Select(k.UpFactor));
        Assert.Equal([true, false, false], Enumerable.Range(0, 3).Select(k.UpResidual));
        Assert.Equal([1, 2, 1], Enumerable.Range(0, 3).Select(k.UpLayers));
        Assert.Equal(1, k.MidLayers);
        Assert.Equal(12, k.ConvOutChannels);
        Assert.Equal(8, k.SpatialFactor);
        Assert.Equal(9, k.OutputFrames(3));
    }

    /// <summary>diffusers' defaults are LTX-Video 0.9.0's VAE: 128 latent channels, patch_size 4, three upsamplers
    /// (×32 in space, 8k + 1 frames of k + 1 latent frames), no timestep conditioning, non-causal.</summary>
    [Fact]
    public void DefaultsAreLtx090s()
    {
        var c = LtxVaeConfig.From(JsonConfig.Parse("{}", "vae/config.json"));
        Assert.Equal(128, c.LatentChannels);
        Assert.Equal(512, c.MidChannels);
        Assert.Equal([512, 512, 512, 256], Enumerable.Range(0, 4).Select(c.UpInChannels));
        Assert.Equal([512, 512, 256, 128], Enumerable.Range(0, 4).Select(c.UpOutChannels));
        Assert.Equal([false, true, true, true], Enumerable.Range(0, 4).Select(c.Upsamples));
        Assert.Equal(32, c.SpatialFactor);
        Assert.Equal(49, c.OutputFrames(7));
        Assert.False(c.TimestepConditioning);
        Assert.False(c.DecoderCausal);
        Assert.Equal(48, c.ConvOutChannels);
    }

    /// <summary>LTX-Video 0.9.5's decoder (diffusers' conversion script): three up blocks with upsample_factor 2 and
    /// the residual, timestep-conditioned; its channels chain without conv_in.</summary>
    [Fact]
    public void Ltx095DecoderConfigIsAccepted()
    {
        var c = LtxVaeConfig.From(JsonConfig.Parse("""
            {"decoder_block_out_channels": [256, 512, 1024], "decoder_layers_per_block": [5, 5, 5, 5],
             "decoder_spatio_temporal_scaling": [true, true, true], "decoder_inject_noise": [false, false, false, false],
             "upsample_residual": [true, true, true], "upsample_factor": [2, 2, 2], "timestep_conditioning": true}
            """, "vae/config.json"));
        Assert.Equal([512, 256, 128], Enumerable.Range(0, 3).Select(c.UpOutChannels));
        Assert.Equal([512, 256, 128], Enumerable.Range(0, 3).Select(c.UpInChannels));
        Assert.Equal(32, c.SpatialFactor);
    }

    /// <summary>0.9.5's layout at a small width (upsample_factor 2 with the residual in every up block, timestep
    /// conditioning, patch_size 4) loads from a random checkpoint, which answers every weight in the shape asked, so
    /// the shapes the blocks ask for chain; its decode has the video's shape: 2 latent frames → 9, ×32 in space.</summary>
    [Fact]
    public void Ltx095LayoutDecodesToTheVideosShapeFromRandomWeights()
    {
        var config = LtxVaeConfig.From(JsonConfig.Parse("""
            {"latent_channels": 8, "decoder_block_out_channels": [16, 32, 64], "decoder_layers_per_block": [1, 1, 1, 1],
             "decoder_spatio_temporal_scaling": [true, true, true], "decoder_inject_noise": [false, false, false, false],
             "upsample_residual": [true, true, true], "upsample_factor": [2, 2, 2], "timestep_conditioning": true}
            """, "vae/config.json"));
        using var ops = new CpuOps();
        using var source = new RandomCheckpoint("tiny LTX 0.9.5 VAE", DType.F32, scale: 0.1f);
        using var vae = AutoencoderKLLTXVideo.Load(config, source, ops);
        using var z = ops.FromHost(Numerics.Random(8 * 2, seed: 4), 1, 8, 2, 1, 1);
        using var video = vae.Decode(ops, z, [0.05f]);
        Assert.Equal([1, 3, 9, 32, 32], video.Dims);
        Assert.All(ops.ToHost(video), v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData("""{"_class_name": "AutoencoderKLWan"}""", "_class_name")]
    [InlineData("""{"decoder_inject_noise": [true, false, false, false, false]}""", "decoder_inject_noise")]
    [InlineData("""{"patch_size_t": 2}""", "patch_size_t")]
    [InlineData("""{"timestep_conditioning": true}""", "timestep_conditioning")]
    [InlineData("""{"decoder_layers_per_block": [1, 1, 1, 1]}""", "decoder_layers_per_block")]
    [InlineData("""{"decoder_spatio_temporal_scaling": [true, true]}""", "decoder_spatio_temporal_scaling")]
    [InlineData("""{"upsample_factor": [1, 1, 1, 3]}""", "upsample_factor")]
    [InlineData("""{"upsample_factor": [1, 1, 1, 2]}""", "upsample_factor")]
    [InlineData("""{"decoder_block_out_channels": [8, 16], "decoder_spatio_temporal_scaling": [true, true], "upsample_residual": [false, false], "upsample_factor": [2, 1], "decoder_layers_per_block": [1, 1, 1], "decoder_inject_noise": [false, false, false]}""", "upsample_factor")]
    [InlineData("""{"decoder_block_out_channels": [4, 4], "decoder_spatio_temporal_scaling": [true, true], "upsample_residual": [true, false], "upsample_factor": [1, 1], "decoder_layers_per_block": [1, 1, 1], "decoder_inject_noise": [false, false, false]}""", "upsample_residual")]
    [InlineData("""{"decoder_block_out_channels": [0, 8]}""", "decoder_block_out_channels")]
    [InlineData("""{"resnet_norm_eps": 0}""", "resnet_norm_eps")]
    public void UnsupportedConfigIsRefusedWithFileAndKeyNamed(string json, string key)
        => VideoVaeChecks.UnsupportedConfigIsRefused(LtxVaeConfig.From, json, key);

    [Fact]
    public void LatentsOfTheWrongShapeOrAMissingTimestepAreRefused()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLLTXVideo.Load(Dir, ops);
        using var channels = ops.Zeros(DType.F32, 1, 4, 2, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => vae.Decode(ops, channels, [0.05f]));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("[1, 4, 2, 4, 4]", e.Message);
        using var image = ops.Zeros(DType.F32, 1, 8, 4, 4);
        e = Assert.Throws<ArgumentException>(() => vae.Decode(ops, image, [0.05f]));
        Assert.Contains("[1, 8, 4, 4]", e.Message);
        using var z = ops.Zeros(DType.F32, 2, 8, 2, 4, 4);
        e = Assert.Throws<ArgumentException>(() => vae.Decode(ops, z));
        Assert.Contains("timestep", e.Message);
        e = Assert.Throws<ArgumentException>(() => vae.Decode(ops, z, [0.05f, 0.05f, 0.05f]));
        Assert.Contains("got 3", e.Message);
    }

    /// <summary>Tiled and framewise decoding are not implemented: a case asking for either is refused, the meta key
    /// named.</summary>
    [Theory]
    [InlineData("use_tiling")]
    [InlineData("use_framewise_decoding")]
    public void FixtureRunnerRefusesTilingAndFramewiseDecoding(string key)
    {
        var dir = TestPaths.TempDir();
        try
        {
            File.Copy(Path.Combine(Dir, "io.safetensors"), Path.Combine(dir, "io.safetensors"));
            File.WriteAllText(Path.Combine(dir, "meta.json"), $$"""{"model": "AutoencoderKLLTXVideo", "op": "decode", "{{key}}": true}""");
            using var ops = new CpuOps();
            using var fixture = new FixtureCase(dir);
            var runner = new LtxVaeFixtureRunner();
            Assert.True(runner.Handles(fixture.Meta));
            var e = Assert.Throws<NotSupportedException>(() => runner.Run(fixture, ops));
            Assert.Contains(key, e.Message);
            Assert.Contains("meta.json", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
