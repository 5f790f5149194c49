using XDit.Engine.Bench;
using XDit.Kernels.Cuda;
using XDit.Kernels.Ledger;
using XDit.Models.Vae.Wan;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Tests.Models;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The Wan VAE decoder on emulated CUDA beyond the fixture pass (which decodes wan_vae and wan_vae_frames in f32,
/// bf16 and f16): the float32 decode on a bf16 device (Wan's pipelines load the VAE in float32) matches the float32
/// reference and hands the video back in float32, one frame per Conv2d call matches diffusers, the memory estimate
/// bounds the device allocator's peak, and Wan 2.1's VAE at its real size decodes on the no-exec device within the
/// estimate, with its launch ledger.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedWanVaeTests
{
    readonly ITestOutputHelper _out;
    public EmulatedWanVaeTests(ITestOutputHelper output) => _out = output;

    static string FramesDir => TestPaths.Fixture("wan_vae_frames");

    [Fact]
    public void Float32DecoderOnABf16DeviceMatchesTheFloat32Reference()
    {
        EmulatedCuda.Require();
        var ops = CudaTestDevice.Get(DType.BF16);
        using var vae = AutoencoderKLWan.Load(FramesDir, ops, float32: true);
        Assert.True(vae.Float32);
        using var cpu = new XDit.Kernels.Cpu.CpuOps();
        using var cpuVae = AutoencoderKLWan.Load(FramesDir, cpu);
        EmulatedVideoVaeChecks.Float32DecoderMatchesTheFloat32Reference(ops, FramesDir, VideoVae.Of(vae), cpu, VideoVae.Of(cpuVae), bf16: null, _out);
    }

    /// <summary>One frame per Conv2d call (the path real sizes take at full resolution) through CudaOps' strided
    /// gathers from the norms' channels-last maps and the zero-stride upsampling copies: diffusers' video.</summary>
    [Fact]
    public void FrameChunkedDecodeMatchesDiffusers()
    {
        EmulatedCuda.Require();
        var ops = CudaTestDevice.Get(DType.F32);
        using var vae = AutoencoderKLWan.Load(FramesDir, ops);
        EmulatedVideoVaeChecks.FrameChunkedDecodeMatchesDiffusers(ops, VideoVae.Of(vae), FramesDir, _out);
    }

    [Theory]
    [InlineData("wan_vae", 2, 4, 4, false)]
    [InlineData("wan_vae_frames", 3, 2, 3, false)]
    [InlineData("wan_vae_frames", 3, 4, 4, true)]
    public void MemoryEstimateBoundsTheDevicePeak(string fixture, int frames, int h, int w, bool framePerCall)
    {
        EmulatedCuda.Require();
        var ops = CudaTestDevice.Get(DType.F32);
        using var vae = AutoencoderKLWan.Load(TestPaths.Fixture(fixture), ops);
        if (framePerCall) vae.ConvGatherElements = 1;
        VideoVaeChecks.MemoryEstimateBoundsThePeak(VideoVae.Of(vae), ops, fixture, frames, h, w, cpu: false, _out);
    }

    /// <summary>Wan 2.1's VAE (diffusers' defaults: base_dim 96, dim_mult [1, 2, 4, 4]) at its real size on the
    /// emulator's no-exec device (nothing runs, device memory is only reserved): the float32 decode of 21 latent
    /// frames of 60×104, 81 frames of 480×832, as the Wan pipelines run it, and in bf16. The estimate bounds the
    /// allocator's peak and is within 1.5× of it; the launch ledger of the decode (roofline on an H100) is printed.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RealSizeDecodePeakIsWithinTheEstimate(bool float32)
    {
        EmulatedCuda.Require();
        var config = WanVaeConfig.From(JsonConfig.Parse("{}", "Wan2.1 vae/config.json (diffusers' defaults)"));
        using var gpu = new CudaOps(0, DType.BF16);
        Assert.Equal(false, EmulatorNoExec.Set(1));
        try
        {
            using var source = new RandomCheckpoint("Wan2.1 VAE", DType.BF16) { ShapeOnly = true };
            using var vae = AutoencoderKLWan.Load(config, source, gpu, float32);
            using var z = gpu.Empty(float32 ? DType.F32 : DType.BF16, 1, 16, 21, 60, 104);
            var ledger = new LaunchLedger();
            gpu.Allocator.ResetPeak();
            long before = gpu.Allocator.BytesInUse;
            using (var lops = new LedgerOps(gpu, ledger))
            using (ledger.Scope("decode"))
            using (var video = vae.Decode(lops, z))
                Assert.Equal([1, 3, 81, 480, 832], video.Dims);
            long peak = gpu.Allocator.PeakBytesInUse - before, estimate = vae.EstimateDecodeBytes(1, 21, 60, 104);
            var report = LedgerReport.From(ledger, $"Wan2.1 VAE decode, 21x60x104 latents in {(float32 ? "float32" : "bf16")}", "no-exec emulator", GpuSpec.H100, null, peak);
            _out.WriteLine(report.Format());
            _out.WriteLine($"weights {vae.WeightBytes / 1e9:F2} GB, decode peak {peak / 1e9:F2} GB, estimate {estimate / 1e9:F2} GB ({(double)estimate / peak:F2}x)");
            VideoVaeChecks.EstimateIsWithin(peak, estimate, 1.5);
        }
        finally { EmulatorNoExec.Set(-1); }
    }
}
