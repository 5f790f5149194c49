using XDit.Engine.Pipelines;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Vae.QwenImage;
using XDit.Models.Vae.Wan;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>
/// Qwen-Image's VAE (diffusers' AutoencoderKLQwenImage) is Wan 2.1's with other config keys: it runs on
/// <see cref="AutoencoderKLWan"/> and <see cref="WanVaeEncoder"/> from a <see cref="WanVaeConfig"/>. The fixtures
/// hold one frame each (an image), as the Qwen-Image pipelines use the VAE; their weight files keep only the half the
/// case reads (decoder + post_quant_conv, encoder + quant_conv).
/// </summary>
public class QwenImageVaeTests
{
    readonly ITestOutputHelper _out;
    public QwenImageVaeTests(ITestOutputHelper output) => _out = output;

    /// <summary>qwenimage_vae: vae.decode(z).sample of one latent frame (z_dim 4, base_dim 8, dim_mult [1, 2, 4],
    /// a 6×4 latent → one 48×32 frame, clamped); qwenimage_vae_encode: vae.encode(x).latent_dist of one 16×24
    /// frame (base_dim 16, dim_mult [1, 2]).</summary>
    [Theory]
    [InlineData("qwenimage_vae", 1)]
    [InlineData("qwenimage_vae_encode", 2)]
    public void MatchesDiffusers(string fixture, int outputs)
    {
        using var ops = new CpuOps();
        using var notes = XDit.Models.CheckpointNotes.Collect();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(fixture), ops);
        Assert.Equal(outputs, results.Count);
        foreach (var r in results)
        {
            _out.WriteLine($"{fixture} {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{fixture} {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
        // every tensor of the half the case uses was read
        Assert.Empty(notes.Messages);
    }

    /// <summary>The config keys of AutoencoderKLQwenImage: input_channels for the video in and out, base_dim for the
    /// decoder too, the scale factors from the blocks; Wan's own keys are ignored, as diffusers ignores them.</summary>
    [Fact]
    public void ConfigReadsQwenImagesKeysAndIgnoresWans()
    {
        var c = WanVaeConfig.From(JsonConfig.Parse("""
            {"_class_name": "AutoencoderKLQwenImage", "base_dim": 8, "dim_mult": [1, 2, 4], "temperal_downsample": [false, true],
             "z_dim": 2, "latents_mean": [0.5, -1], "latents_std": [2, 4], "input_channels": 5,
             "in_channels": 7, "out_channels": 9, "decoder_base_dim": 3, "is_residual": true, "patch_size": 2, "scale_factor_spatial": 16}
            """, "vae/config.json"));
        Assert.Equal(WanVaeConfig.QwenImageClassName, c.Model);
        Assert.Equal((5, 5), (c.InChannels, c.OutChannels));
        Assert.Equal((8, 8), (c.BaseDim, c.DecoderBaseDim));
        Assert.Equal((4, 2), (c.ScaleFactorSpatial, c.ScaleFactorTemporal));
        Assert.Equal([true, false, false], Enumerable.Range(0, 3).Select(c.UpsamplesTime));
        var fixture = WanVaeConfig.Load(Path.Combine(TestPaths.Fixture("qwenimage_vae"), "config.json"));
        Assert.Equal((WanVaeConfig.QwenImageClassName, 3, 3, 4), (fixture.Model, fixture.InChannels, fixture.OutChannels, fixture.SpatialFactor));
    }

    /// <summary>Qwen-Image's VAE at its real size (diffusers' AutoencoderKLQwenImage defaults, the released
    /// checkpoint's; latents_mean / latents_std left to them) is Wan 2.1's shape: z_dim 16, 8× spatial, 4× temporal,
    /// Wan 2.1's channel widths and latent statistics.</summary>
    [Fact]
    public void ReleasedConfigIsWan21sShape()
    {
        var c = WanVaeConfig.From(JsonConfig.Parse("""
            {"_class_name": "AutoencoderKLQwenImage", "attn_scales": [], "base_dim": 96, "dim_mult": [1, 2, 4, 4], "dropout": 0.0,
             "num_res_blocks": 2, "temperal_downsample": [false, true, true], "z_dim": 16}
            """, "vae/config.json"));
        var wan = WanVaeConfig.From(JsonConfig.Parse("{}", "vae/config.json"));
        Assert.Equal((16, 8, 4, 384), (c.ZDim, c.SpatialFactor, c.TemporalFactor, c.MidChannels));
        Assert.Equal(wan.LatentsMean, c.LatentsMean);
        Assert.Equal(wan.LatentsStd, c.LatentsStd);
        Assert.Equal(Enumerable.Range(0, 4).Select(wan.UpInChannels), Enumerable.Range(0, 4).Select(c.UpInChannels));
    }

    [Theory]
    [InlineData("""{"_class_name": "AutoencoderKLQwenImage", "input_channels": 0}""", "input_channels")]
    [InlineData("""{"_class_name": "AutoencoderKLQwenImage", "dim_mult": [1, 2]}""", "temperal_downsample")]
    [InlineData("""{"_class_name": "AutoencoderKLQwenImage", "latents_std": [1, 0]}""", "latents_std")]
    [InlineData("""{"_class_name": "AutoencoderKLQwenImageV2"}""", "_class_name")]
    public void UnsupportedConfigIsRefusedWithFileAndKeyNamed(string json, string key)
    {
        var e = Assert.ThrowsAny<Exception>(() => WanVaeConfig.From(JsonConfig.Parse(json, "vae/config.json")));
        Assert.True(e is NotSupportedException or FormatException, e.ToString());
        Assert.Contains("vae/config.json", e.Message);
        Assert.Contains(key, e.Message);
    }

    static WanVaeConfig TwoChannels => WanVaeConfig.From(JsonConfig.Parse(
        """{"_class_name": "AutoencoderKLQwenImage", "z_dim": 2, "dim_mult": [1, 2], "temperal_downsample": [false], "latents_mean": [0.5, -1], "latents_std": [2, 0.25]}""",
        "vae/config.json"));

    /// <summary>The pipeline's scaling, per channel (the second axis) of [B, z, 1, h, w]: z = latents·std + mean
    /// before decoding, and its inverse after encoding.</summary>
    [Fact]
    public void LatentScalingMapsEachChannelAndInvertsItself()
    {
        var c = TwoChannels;
        // B 2, z 2, one frame of 1×2
        float[] latents = [1, -2, 4, 8, 0, 1, -1, 2];
        float[] want = [2.5f, -3.5f, 0f, 1f, 0.5f, 2.5f, -1.25f, -0.5f];
        var z = QwenImageVaeLatents.ToDecoderInput(c, latents, batch: 2);
        Assert.Equal(want, z);
        Assert.Equal(latents, QwenImageVaeLatents.FromEncoderOutput(c, z, batch: 2));
        var random = Numerics.Random(2 * 2 * 1 * 6 * 4, seed: 3);
        var back = QwenImageVaeLatents.FromEncoderOutput(c, QwenImageVaeLatents.ToDecoderInput(c, random, batch: 2), batch: 2);
        Assert.True(Numerics.RelativeError(back, random) < 1e-6);
        var e = Assert.Throws<ArgumentException>(() => QwenImageVaeLatents.ToDecoderInput(c, new float[7], batch: 2));
        Assert.Contains("vae/config.json", e.Message);
    }

    /// <summary>diffusers loads an AutoencoderKLQwenImage whose latents_mean / latents_std do not have z_dim entries
    /// (the VAE never reads them; qwenimage_vae_encode's config is one: z_dim 4, 16 each), so it loads here too and
    /// the scaling, which reads one per channel, refuses it in one line.</summary>
    [Fact]
    public void LatentStatsOfTheWrongLengthAreRefusedByTheScalingAlone()
    {
        var c = WanVaeConfig.Load(Path.Combine(TestPaths.Fixture("qwenimage_vae_encode"), "config.json"));
        Assert.Equal((4, 16), (c.ZDim, c.LatentsMean.Length));
        var e = Assert.Throws<FormatException>(() => QwenImageVaeLatents.FromEncoderOutput(c, new float[4], batch: 1));
        Assert.Contains("qwenimage_vae_encode/config.json", e.Message);
        Assert.Contains("latents_mean", e.Message);
        // Wan's files are held to it when they load, as before
        var wan = Assert.Throws<FormatException>(() => WanVaeConfig.From(JsonConfig.Parse("""{"z_dim": 4}""", "vae/config.json")));
        Assert.Contains("latents_mean", wan.Message);
    }

    /// <summary>QwenImagePipeline's _pack_latents / _unpack_latents ([B, z, 1, h, w] ↔ [B, (h/2)(w/2), 4z]: view
    /// (B, z, h/2, 2, w/2, 2), permute (0, 2, 4, 1, 3, 5)) are Flux's layout: FluxLatents.Pack / Unpack hold it, here
    /// checked against that index formula written out.</summary>
    [Fact]
    public void PackedTokensAreFluxsLayout()
    {
        const int b = 2, z = 16, h = 4, w = 6;
        var latents = Numerics.Random(b * z * 1 * h * w, seed: 7);
        var packed = FluxLatents.Pack(latents, b, z, h, w);
        for (int n = 0; n < b; n++)
            for (int i = 0; i < h / 2; i++)
                for (int j = 0; j < w / 2; j++)
                    for (int c = 0; c < z; c++)
                        for (int dy = 0; dy < 2; dy++)
                            for (int dx = 0; dx < 2; dx++)
                            {
                                int token = i * (w / 2) + j, feature = (c * 2 + dy) * 2 + dx;
                                float v = latents[((n * z + c) * h + 2 * i + dy) * w + 2 * j + dx];   // frame 0 of [B, z, 1, h, w]
                                Assert.Equal(v, packed[(n * (h / 2) * (w / 2) + token) * 4 * z + feature]);
                            }
        Assert.Equal(latents, FluxLatents.Unpack(packed, b, z, h, w));
    }

    /// <summary>Single-frame use: the decoder makes one frame of a one-frame z (the pipeline keeps [:, :, 0]) and
    /// the encoder one latent frame of one image frame.</summary>
    [Fact]
    public void OneFrameInOneFrameOut()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLWan.Load(TestPaths.Fixture("qwenimage_vae"), ops);
        Assert.Equal(1, vae.OutputFrames(1));
        using var encoder = WanVaeEncoder.Load(TestPaths.Fixture("qwenimage_vae_encode"), ops);
        Assert.Equal(1, encoder.LatentFrames(1));
        using var x = ops.FromHost(Numerics.Random(3 * 8 * 16, seed: 2), 1, 3, 1, 8, 16);
        using var dist = encoder.Encode(ops, x);
        Assert.Equal([1, 4, 1, 4, 8], dist.Mean.Dims);
    }
}
