using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class AutoencoderDCTests
{
    readonly ITestOutputHelper _out;
    public AutoencoderDCTests(ITestOutputHelper output) => _out = output;

    [Fact]
    public void DecodeMatchesDiffusers()
    {
        using var ops = new CpuOps();
        using var notes = XDit.Models.CheckpointNotes.Collect();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("dcae"), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            _out.WriteLine($"dcae {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"dcae {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
        // the encoder's tensors are not the decoder's business; every decoder tensor was read
        Assert.Empty(notes.Messages);
    }

    /// <summary>pixel_shuffle up blocks, no input shortcut, ReLU ResBlocks, SiLU before conv_out, per-stage key lists,
    /// two heads and two multi-scale kernels (3 and 5) in one stage: dcae/pixel_shuffle, diffusers' decode of random
    /// weights made with cpuref (decoder tensors only).</summary>
    [Fact]
    public void PixelShuffleVariantMatchesDiffusers()
    {
        var dir = Path.Combine(TestPaths.Fixture("dcae"), "pixel_shuffle");
        using var ops = new CpuOps();
        using var vae = AutoencoderDC.Load(dir, ops);
        Assert.False(vae.Config.Interpolate);
        Assert.Equal(0, vae.InShortcutRepeats);
        Assert.Equal([[], [3, 5], [5]], vae.Config.QkvMultiscales);
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var zHost = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        using var z = ops.Upload(zHost);
        using var image = vae.Decode(ops, z);
        Assert.Equal(want.Dims, image.Dims);
        double err = Numerics.RelativeError(ops.ToHost(image), want.ToFloatArray());
        _out.WriteLine($"pixel_shuffle variant: rel {err:E3}");
        Assert.True(err < 1e-4, $"pixel_shuffle variant: relative error {err:E3} against diffusers");
    }

    [Fact]
    public void ConfigReadsTheFixtureKeys()
    {
        var c = AutoencoderDCConfig.Load(Path.Combine(TestPaths.Fixture("dcae"), "config.json"));
        Assert.Equal(8, c.LatentChannels);
        Assert.Equal([8, 16, 16], c.BlockOutChannels);
        Assert.Equal([1, 1, 2], c.LayersPerBlock);
        Assert.Equal([DcBlockType.ResBlock, DcBlockType.EfficientViTBlock, DcBlockType.EfficientViTBlock], c.BlockTypes);
        Assert.Equal([[], [5], [5]], c.QkvMultiscales);
        Assert.True(c.Interpolate);
        Assert.True(c.InShortcut);
        Assert.Equal(4, c.AttentionHeadDim);
        Assert.Equal(4, c.SpatialFactor);
        Assert.Equal(0.41407, c.ScalingFactor, 6);
    }

    [Theory]
    [InlineData("""{"_class_name": "AutoencoderKL"}""", "_class_name")]
    [InlineData("""{"decoder_norm_types": "batch_norm"}""", "decoder_norm_types")]
    [InlineData("""{"decoder_block_out_channels": [8, 16], "decoder_layers_per_block": [1, 1, 1]}""", "decoder_layers_per_block")]
    [InlineData("""{"decoder_block_out_channels": [8, 16], "decoder_layers_per_block": [0, 1], "decoder_qkv_multiscales": [[], []]}""", "decoder_layers_per_block")]
    [InlineData("""{"decoder_block_out_channels": [8, 16], "decoder_layers_per_block": [1, 1], "decoder_qkv_multiscales": [[]]}""", "decoder_qkv_multiscales")]
    [InlineData("""{"decoder_block_out_channels": [8, 24], "decoder_layers_per_block": [1, 1], "decoder_qkv_multiscales": [[], []], "latent_channels": 8}""", "decoder_block_out_channels")]
    [InlineData("""{"decoder_block_out_channels": [8, 16], "decoder_layers_per_block": [1, 1], "decoder_qkv_multiscales": [[], []], "latent_channels": 6}""", "latent_channels")]
    [InlineData("""{"decoder_block_types": ["ResBlock", "ViT"], "decoder_block_out_channels": [8, 16], "decoder_layers_per_block": [1, 1], "decoder_qkv_multiscales": [[], []]}""", "decoder_block_types")]
    [InlineData("""{"upsample_block_type": "bilinear"}""", "upsample_block_type")]
    [InlineData("""{"decoder_act_fns": "relu6"}""", "decoder_act_fns")]
    public void UnsupportedConfigIsRefusedWithFileAndKeyNamed(string json, string key)
    {
        var dir = TestPaths.TempDir();
        try
        {
            var path = Path.Combine(dir, "config.json");
            File.WriteAllText(path, json);
            var e = Assert.ThrowsAny<Exception>(() => AutoencoderDCConfig.Load(path));
            Assert.True(e is FormatException or NotSupportedException, e.ToString());
            Assert.Contains(path, e.Message);
            Assert.Contains(key, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ChannelRepeatAndPixelShuffleMatchTorchsDefinitions()
    {
        using var ops = new CpuOps();
        int b = 2, c = 3, h = 2, w = 5;
        var x = Numerics.Random(b * c * h * w, seed: 11);
        using var xt = ops.FromHost(x, b, c, h, w);

        using var rep = DcChannelLayout.RepeatChannels(ops, xt, 4);
        Assert.Equal([b, 4 * c, h, w], rep.Dims);
        var r = ops.ToHost(rep);
        for (int bi = 0; bi < b; bi++)
            for (int o = 0; o < 4 * c; o++)
                for (int p = 0; p < h * w; p++)
                    Assert.Equal(x[(bi * c + o / 4) * h * w + p], r[(bi * 4 * c + o) * h * w + p]);

        // pixel_shuffle of the repeated tensor: out[c, 2y + i, 2x + j] = in[4c + 2i + j, y, x]
        using var shuffled = DcChannelLayout.PixelShuffle2(ops, rep);
        Assert.Equal([b, c, 2 * h, 2 * w], shuffled.Dims);
        var s = ops.ToHost(shuffled);
        for (int bi = 0; bi < b; bi++)
            for (int o = 0; o < c; o++)
                for (int y = 0; y < 2 * h; y++)
                    for (int xx = 0; xx < 2 * w; xx++)
                    {
                        int src = 4 * o + 2 * (y % 2) + xx % 2;
                        Assert.Equal(r[((bi * 4 * c + src) * h + y / 2) * w + xx / 2], s[((bi * c + o) * 2 * h + y) * 2 * w + xx]);
                    }
    }

    /// <summary>A 1×3 latent: the deepest stage has H·W = 3 ≤ head_dim 4, where diffusers switches to its
    /// "quadratic" attention; the linear form gives the same numbers (tiny_quadratic.safetensors: diffusers' decode of
    /// z[i] = 1.5·sin(0.37·i + 0.1), made with cpuref). Batch rows decode independently.</summary>
    [Fact]
    public void QuadraticSizesMatchDiffusersAndBatchRowsAreIndependent()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderDC.Load(TestPaths.Fixture("dcae"), ops);
        using var io = new SafetensorsFile(Path.Combine(TestPaths.Fixture("dcae"), "tiny_quadratic.safetensors"));
        using var zHost = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        Assert.Equal([2, 8, 1, 3], zHost.Dims);
        var latent = zHost.ToFloatArray();
        for (int i = 0; i < latent.Length; i++) Assert.True(Math.Abs(1.5 * Math.Sin(0.37 * i + 0.1) - latent[i]) < 1e-6, $"z[{i}] = {latent[i]}");
        using var z = ops.FromHost(latent, 2, 8, 1, 3);
        using var image = vae.Decode(ops, z);
        Assert.Equal([2, 3, 4, 12], image.Dims);
        var pixels = ops.ToHost(image);
        double err = Numerics.RelativeError(pixels, want.ToFloatArray());
        _out.WriteLine($"tiny 1x3 latent: rel {err:E3}");
        Assert.True(err < 1e-4, $"tiny 1x3 latent: relative error {err:E3} against diffusers");
        using var z1 = ops.FromHost(latent.AsSpan(8 * 3), 1, 8, 1, 3);
        using var image1 = vae.Decode(ops, z1);
        Assert.True(Numerics.RelativeError(pixels.AsSpan(3 * 4 * 12), ops.ToHost(image1)) < 1e-6);
    }
}
