using XDit.Engine.Verify;
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
    public void DecodeMatchesDiffusers()
    {
        using var ops = new CpuOps();
        using var notes = XDit.Models.CheckpointNotes.Collect();
        var results = FixtureVerifier.Verify(Dir, ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            _out.WriteLine($"cogvideox_vae {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"cogvideox_vae {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
        // the encoder's tensors are left out by design; every decoder tensor was read
        Assert.Empty(notes.Messages);
    }

    /// <summary>What the first case leaves out (cogvideox_vae_batches, made with cpuref by its make_case.py): 5 latent
    /// frames in two batches, 0–2 then 3–4, the second an even batch that starts from the causal convolutions' cache;
    /// a resnet that narrows the channels (conv_shortcut, up_blocks.3); a non-square latent (2×3) → 17 frames.</summary>
    [Fact]
    public void BatchedDecodeWithCacheAndShortcutMatchesDiffusers()
    {
        using var ops = new CpuOps();
        using var notes = XDit.Models.CheckpointNotes.Collect();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("cogvideox_vae_batches"), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            _out.WriteLine($"cogvideox_vae_batches {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"cogvideox_vae_batches {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
        Assert.Empty(notes.Messages);
    }

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
        using var whole = vae.Decode(ops, z);
        vae.ConvGatherElements = 1;
        using var chunked = vae.Decode(ops, z);
        double err = Numerics.RelativeError(ops.ToHost(chunked), ops.ToHost(whole));
        Assert.True(err < 1e-6, $"frame-chunked decode differs by {err:E3}");
        double golden = Numerics.RelativeError(ops.ToHost(chunked), io.ReadF32("out.sample").ToFloatArray());
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
        using var both = vae.Decode(ops, z);
        Assert.Equal([2, 3, 17, 16, 24], both.Dims);
        for (int i = 0; i < 2; i++)
        {
            using var alone = vae.Decode(ops, z.Slice(0, i, 1));
            double err = Numerics.RelativeError(ops.ToHost(both.Slice(0, i, 1)), ops.ToHost(alone));
            Assert.True(err < 1e-6, $"video {i} of the batch differs from its decode alone by {err:E3}");
        }
    }

    /// <summary>The pipeline holds latents [B, F, C, h, w]; a permuted view of them decodes in place, as z itself.</summary>
    [Fact]
    public void FrameMajorLatentsDecodeThroughAPermutedView()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(Dir, ops);
        using var io = new SafetensorsFile(Path.Combine(Dir, "io.safetensors"));
        using var z = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        using var frameMajor = ops.Contiguous(z.Permute(0, 2, 1, 3, 4));   // [B, F, C, h, w]
        using var video = vae.Decode(ops, frameMajor.Permute(0, 2, 1, 3, 4));
        Assert.Equal(want.Dims, video.Dims);
        double err = Numerics.RelativeError(ops.ToHost(video), want.ToFloatArray());
        Assert.True(err < 1e-4, $"relative error {err:E3} through a permuted view");
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
        var (peak, estimate) = MeasurePeak(ops, vae, frames, h, w, cpu: true);
        _out.WriteLine($"{fixture} {frames}x{h}x{w}: decode peak {peak} bytes, estimate {estimate} ({(double)estimate / peak:F2}x)");
        Assert.True(estimate >= peak, $"estimate {estimate} bytes is below the measured peak {peak}");
        Assert.True(estimate <= 2 * peak, $"estimate {estimate} bytes is more than 2x the measured peak {peak}");
    }

    /// <summary>Peak bytes allocated by a decode of random z [1, C, frames, h, w] beyond what was in use before, and
    /// the estimate for it.</summary>
    internal static (long Peak, long Estimate) MeasurePeak(XDit.Kernels.IOps ops, AutoencoderKLCogVideoX vae, int frames, int h, int w, bool cpu)
    {
        int c = vae.Config.LatentChannels;
        using var z = ops.FromHost(Numerics.Random(c * frames * h * w, seed: 3), 1, c, frames, h, w);
        ops.Allocator.ResetPeak();
        long before = ops.Allocator.BytesInUse;
        using (vae.Decode(ops, z)) { }
        return (ops.Allocator.PeakBytesInUse - before, vae.EstimateDecodeBytes(1, frames, h, w, cpu));
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
    {
        var e = Assert.ThrowsAny<Exception>(() => CogVideoXVaeConfig.From(JsonConfig.Parse(json, "vae/config.json")));
        Assert.True(e is NotSupportedException or FormatException, e.ToString());
        Assert.Contains("vae/config.json", e.Message);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void ZOfTheWrongShapeIsRefused()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKLCogVideoX.Load(Dir, ops);
        using var z4 = ops.Zeros(DType.F32, 1, 4, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => vae.Decode(ops, z4));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("[1, 4, 4, 4]", e.Message);
    }
}
