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
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var hostZ = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        using var vae = AutoencoderKLCogVideoX.Load(dir, ops, float32: true);
        Assert.True(vae.Float32);
        // z in the pipeline's bf16, as its latents would be; the decoder casts it up
        using var zBf16 = ops.Upload(hostZ);
        using var z = ops.Cast(zBf16, DType.BF16);
        using var video = vae.Decode(ops, z);
        Assert.Equal(DType.F32, video.DType);
        Assert.Equal(want.Dims, video.Dims);
        // only z's rounding to bf16 separates it from the float32 reference: the CPU's float32 decode of that z
        using var cpu = new XDit.Kernels.Cpu.CpuOps();
        using var cpuVae = AutoencoderKLCogVideoX.Load(dir, cpu);
        using var zRounded = cpu.FromHost(ops.ToHost(z), z.Dims);
        using var cpuVideo = cpuVae.Decode(cpu, zRounded);
        double err = Numerics.RelativeError(ops.ToHost(video), cpu.ToHost(cpuVideo));
        double errRef = Numerics.RelativeError(ops.ToHost(video), want.ToFloatArray());
        _out.WriteLine($"float32 decode on bf16: rel {err:E3} against the CPU's float32 decode of the rounded z, {errRef:E3} against diffusers");
        Assert.True(err < 1e-4, $"float32 decoder on a bf16 device: relative error {err:E3} against float32 on the CPU");
        using var plain = AutoencoderKLCogVideoX.Load(dir, ops);
        using var videoBf16 = plain.Decode(ops, z);
        Assert.Equal(DType.BF16, videoBf16.DType);
        double errBf16 = Numerics.RelativeError(ops.ToHost(videoBf16), want.ToFloatArray());
        _out.WriteLine($"bf16 decode: rel {errBf16:E3}");
        Assert.True(errRef < errBf16, $"float32 decode {errRef:E3} is not nearer the reference than the bf16 one {errBf16:E3}");
    }

    /// <summary>One frame per Conv2d call (the path real sizes take at full resolution) through CudaOps' strided
    /// gathers and the zero-stride upsampling copies: diffusers' video to float32 tolerance.</summary>
    [Fact]
    public void FrameChunkedDecodeMatchesDiffusers()
    {
        EmulatedCuda.Require();
        var dir = TestPaths.Fixture("cogvideox_vae_batches");
        var ops = CudaTestDevice.Get(DType.F32);
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var hostZ = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        using var vae = AutoencoderKLCogVideoX.Load(dir, ops);
        vae.ConvGatherElements = 1;
        using var z = ops.Upload(hostZ);
        using var video = vae.Decode(ops, z);
        double err = Numerics.RelativeError(ops.ToHost(video), want.ToFloatArray());
        _out.WriteLine($"frame-chunked decode on CUDA: rel {err:E3}");
        Assert.True(err < 1e-4, $"frame-chunked decode: relative error {err:E3} against diffusers");
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
            Assert.True(estimate >= peak, $"estimate {estimate} bytes is below the measured peak {peak}");
            Assert.True(estimate <= 1.5 * peak, $"estimate {estimate} bytes is more than 1.5x the measured peak {peak}");
        }
        finally { EmulatorNoExec.Set(-1); }
    }
}
