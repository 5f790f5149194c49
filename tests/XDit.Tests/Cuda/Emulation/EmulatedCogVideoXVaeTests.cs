using XDit.Kernels.Cuda;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Tests.Models;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The CogVideoX VAE decoder on emulated CUDA beyond the fixture pass (which decodes both cases in f32, bf16 and
/// f16): the force_upcast decode (float32 weights and compute on a bf16 device) matches diffusers' float32 video to
/// float32 tolerance and hands it back in float32, and the memory estimate bounds the device allocator's peak.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedCogVideoXVaeTests
{
    readonly ITestOutputHelper _out;
    public EmulatedCogVideoXVaeTests(ITestOutputHelper output) => _out = output;

    [Fact]
    public void Float32DecoderOnABf16DeviceMatchesTheFloat32Reference()
    {
        EmulatedCuda.Require();
        var dir = TestPaths.Fixture("cogvideox_vae_batches");
        var ops = CudaTestDevice.Get(DType.BF16);
        using var vae = AutoencoderKLCogVideoX.Load(dir, ops, float32: true);
        Assert.True(vae.Float32);
        using var cpu = new XDit.Kernels.Cpu.CpuOps();
        using var cpuVae = AutoencoderKLCogVideoX.Load(dir, cpu);
        using var plain = AutoencoderKLCogVideoX.Load(dir, ops);
        EmulatedVideoVaeChecks.Float32DecoderMatchesTheFloat32Reference(ops, dir, VideoVae.Of(vae), cpu, VideoVae.Of(cpuVae), VideoVae.Of(plain), _out);
    }

    /// <summary>One frame per Conv2d call (the path real sizes take at full resolution) through CudaOps' strided
    /// gathers and the zero-stride upsampling copies: diffusers' video to float32 tolerance.</summary>
    [Fact]
    public void FrameChunkedDecodeMatchesDiffusers()
    {
        EmulatedCuda.Require();
        var dir = TestPaths.Fixture("cogvideox_vae_batches");
        var ops = CudaTestDevice.Get(DType.F32);
        using var vae = AutoencoderKLCogVideoX.Load(dir, ops);
        EmulatedVideoVaeChecks.FrameChunkedDecodeMatchesDiffusers(ops, VideoVae.Of(vae), dir, _out);
    }

    [Theory]
    [InlineData("cogvideox_vae", 3, 4, 4, false)]
    [InlineData("cogvideox_vae_batches", 5, 4, 4, false)]
    [InlineData("cogvideox_vae_batches", 5, 4, 4, true)]
    public void MemoryEstimateBoundsTheDevicePeak(string fixture, int frames, int h, int w, bool framePerCall)
    {
        EmulatedCuda.Require();
        var ops = CudaTestDevice.Get(DType.F32);
        using var vae = AutoencoderKLCogVideoX.Load(TestPaths.Fixture(fixture), ops);
        if (framePerCall) vae.ConvGatherElements = 1;
        VideoVaeChecks.MemoryEstimateBoundsThePeak(VideoVae.Of(vae), ops, fixture, frames, h, w, cpu: false, _out);
    }

    /// <summary>CogVideoX-2b's VAE (diffusers' defaults) at its real size on the emulator's no-exec device (nothing
    /// runs, device memory is only reserved): the float32 decode of 13 latent frames of 60×90, 49 frames of 480×720,
    /// as a bf16 pipeline runs it (force_upcast). The estimate bounds the allocator's peak and is within 1.5× of it.</summary>
    [Fact]
    public void RealSizeDecodePeakIsWithinTheEstimate()
    {
        EmulatedCuda.Require();
        var config = CogVideoXVaeConfig.From(JsonConfig.Parse("{}", "CogVideoX-2b vae/config.json (diffusers' defaults)"));
        using var gpu = new CudaOps(0, DType.BF16);
        Assert.Equal(false, EmulatorNoExec.Set(1));
        try
        {
            using var source = new RandomCheckpoint("CogVideoX-2b VAE", DType.BF16) { ShapeOnly = true };
            using var vae = AutoencoderKLCogVideoX.Load(config, source, gpu, float32: true);
            using var z = gpu.Empty(DType.BF16, 1, 16, 13, 60, 90);
            gpu.Allocator.ResetPeak();
            long before = gpu.Allocator.BytesInUse, launches = gpu.Launches.Total;
            using (var video = vae.Decode(gpu, z)) Assert.Equal([1, 3, 49, 480, 720], video.Dims);
            long peak = gpu.Allocator.PeakBytesInUse - before, estimate = vae.EstimateDecodeBytes(1, 13, 60, 90);
            _out.WriteLine($"CogVideoX-2b VAE, 13x60x90 in float32: weights {vae.WeightBytes / 1e9:F2} GB, decode peak {peak / 1e9:F2} GB, " +
                           $"estimate {estimate / 1e9:F2} GB ({(double)estimate / peak:F2}x), {gpu.Launches.Total - launches} kernel launches, {string.Join("; ", gpu.FallbackNotes())}");
            VideoVaeChecks.EstimateIsWithin(peak, estimate, 1.5);
        }
        finally { EmulatorNoExec.Set(-1); }
    }
}
