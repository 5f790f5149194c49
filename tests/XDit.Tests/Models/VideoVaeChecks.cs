using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>The checks every video VAE's tests make the same way (Wan, CogVideoX, LTX, HunyuanVideo, on the CPU and
/// on emulated CUDA): a fixture against diffusers, one frame per convolution call against whole frames, a batch
/// against its videos alone, frame-major latents through a view, the memory estimate against the allocator's peak,
/// and the refusals of a bad config or bad latents. What is particular to one VAE stays in its own test class.</summary>
internal static class VideoVaeChecks
{
    /// <summary>The fixture case on the CPU within its tolerance, every tensor printed, and nothing noted about the
    /// checkpoint (the other half of the VAE is left out by design; every tensor of this half was read).</summary>
    public static void FixtureMatchesDiffusers(string fixture, ITestOutputHelper output, int? tensors = null)
    {
        using var ops = new CpuOps();
        using var notes = CheckpointNotes.Collect();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(fixture), ops);
        if (tensors is int n) Assert.Equal(n, results.Count);
        else Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{fixture} {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{fixture} {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
        Assert.Empty(notes.Messages);
    }

    /// <summary>Decodes <paramref name="z"/> with whole frames per convolution call, then one frame per call: the same
    /// video (to 1e-6). Leaves the VAE at one frame per call; returns that video.</summary>
    public static float[] FrameChunkedDecodesTheSameVideo(VideoVae vae, IOps ops, Tensor z)
    {
        using var whole = vae.Decode(ops, z);
        vae.OneFramePerCall();
        using var chunked = vae.Decode(ops, z);
        var video = ops.ToHost(chunked);
        double err = Numerics.RelativeError(video, ops.ToHost(whole));
        Assert.True(err < 1e-6, $"frame-chunked decode differs by {err:E3}");
        return video;
    }

    /// <summary>Two videos in one call (<paramref name="z"/>'s batch of 2) decode to <paramref name="dims"/>, each as
    /// if alone (to 1e-6).</summary>
    public static void BatchOfTwoDecodesEachVideoAsAlone(VideoVae vae, IOps ops, Tensor z, int[] dims)
    {
        using var both = vae.Decode(ops, z);
        Assert.Equal(dims, both.Dims);
        for (int i = 0; i < 2; i++)
        {
            using var alone = vae.Decode(ops, z.Slice(0, i, 1));
            double err = Numerics.RelativeError(ops.ToHost(both.Slice(0, i, 1)), ops.ToHost(alone));
            Assert.True(err < 1e-6, $"video {i} of the batch differs from its decode alone by {err:E3}");
        }
    }

    /// <summary>The pipelines hold latents [B, F, C, h, w]: a permuted view of the fixture's z stored frame-major
    /// decodes to diffusers' video, as z itself does.</summary>
    public static void FrameMajorLatentsDecodeThroughAPermutedView(VideoVae vae, IOps ops, string dir)
    {
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var z = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        using var frameMajor = ops.Contiguous(z.Permute(0, 2, 1, 3, 4));   // [B, F, C, h, w]
        using var video = vae.Decode(ops, frameMajor.Permute(0, 2, 1, 3, 4));
        Assert.Equal(want.Dims, video.Dims);
        double err = Numerics.RelativeError(ops.ToHost(video), want.ToFloatArray());
        Assert.True(err < 1e-4, $"relative error {err:E3} through a permuted view");
    }

    /// <summary>Peak bytes allocated by a decode of random z [1, latent channels, frames, h, w] beyond what was in use
    /// before, and the estimate for it (the CPU's or the device's).</summary>
    public static (long Peak, long Estimate) MeasurePeak(VideoVae vae, IOps ops, int frames, int h, int w, bool cpu)
    {
        var estimateBytes = vae.EstimateDecodeBytes ?? throw new ArgumentException("this VAE has no memory estimate", nameof(vae));
        int c = vae.LatentChannels;
        using var z = ops.FromHost(Numerics.Random(c * frames * h * w, seed: 3), 1, c, frames, h, w);
        ops.Allocator.ResetPeak();
        long before = ops.Allocator.BytesInUse;
        using (vae.Decode(ops, z)) { }
        return (ops.Allocator.PeakBytesInUse - before, estimateBytes(1, frames, h, w, cpu));
    }

    /// <summary>The estimate covers the decode's measured peak and is within 2× of it (a fixture-sized decode on the
    /// CPU, or on the device with <paramref name="cpu"/> false).</summary>
    public static void MemoryEstimateBoundsThePeak(VideoVae vae, IOps ops, string fixture, int frames, int h, int w, bool cpu, ITestOutputHelper output)
    {
        var (peak, estimate) = MeasurePeak(vae, ops, frames, h, w, cpu);
        output.WriteLine($"{fixture} {frames}x{h}x{w}: {(cpu ? "decode" : "device")} peak {peak} bytes, estimate {estimate} ({(double)estimate / peak:F2}x)");
        EstimateIsWithin(peak, estimate, 2);
    }

    /// <summary>The estimate is at least the measured peak and at most <paramref name="factor"/> times it.</summary>
    public static void EstimateIsWithin(long peak, long estimate, double factor)
    {
        Assert.True(estimate >= peak, $"estimate {estimate} bytes is below the measured peak {peak}");
        Assert.True(estimate <= factor * peak, $"estimate {estimate} bytes is more than {factor}x the measured peak {peak}");
    }

    /// <summary>A config the VAE does not support is refused as unsupported or malformed, its file and key named.</summary>
    public static void UnsupportedConfigIsRefused(Func<JsonConfig, object> from, string json, string key)
    {
        var e = Assert.ThrowsAny<Exception>(() => from(JsonConfig.Parse(json, "vae/config.json")));
        Assert.True(e is NotSupportedException or FormatException, e.ToString());
        Assert.Contains("vae/config.json", e.Message);
        Assert.Contains(key, e.Message);
    }

    /// <summary>Latents of <paramref name="shape"/> are refused by the decode, the config and the shape named.</summary>
    public static void LatentsAreRefused(VideoVae vae, IOps ops, params int[] shape)
    {
        using var z = ops.Zeros(DType.F32, shape);
        var e = Assert.Throws<ArgumentException>(() => vae.Decode(ops, z));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(Shape.Format(shape), e.Message);
    }
}
