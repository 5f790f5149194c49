using XDit.Kernels.Cuda;
using XDit.Models.Vae.HunyuanVideo;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Tests.Models;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The HunyuanVideo VAE decoder on emulated CUDA beyond the fixture pass (which decodes both cases in f32, bf16 and
/// f16): the float32 decode on a bf16 device, one frame per convolution call with two videos in one batch (CudaOps'
/// strided gathers, the zero-stride upsampling copies and the mid attention's key prefixes of a batch), and the
/// memory estimate against the device allocator's peak, at the fixtures' sizes and at a real size.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedHunyuanVideoVaeTests
{
    readonly ITestOutputHelper _out;
    public EmulatedHunyuanVideoVaeTests(ITestOutputHelper output) => _out = output;

    static string ShortcutDir => TestPaths.Fixture("hunyuanvideo_vae_shortcut");

    /// <summary>Weights and compute in float32 on a bf16 device: the video comes back float32, within float32
    /// tolerance of the CPU's decode of the same (bf16-rounded) z, and nearer diffusers than the bf16 decode.</summary>
    [Fact]
    public void Float32DecoderOnABf16DeviceMatchesTheFloat32Reference()
    {
        EmulatedCuda.Require();
        var ops = CudaTestDevice.Get(DType.BF16);
        using var vae = AutoencoderKLHunyuanVideo.Load(ShortcutDir, ops, float32: true);
        using var cpu = new XDit.Kernels.Cpu.CpuOps();
        using var cpuVae = AutoencoderKLHunyuanVideo.Load(ShortcutDir, cpu);
        using var plain = AutoencoderKLHunyuanVideo.Load(ShortcutDir, ops);
        EmulatedVideoVaeChecks.Float32DecoderMatchesTheFloat32Reference(ops, ShortcutDir, VideoVae.Of(vae), cpu, VideoVae.Of(cpuVae), VideoVae.Of(plain), _out);
    }

    /// <summary>Two videos in one batch, one frame per Conv2d call: each the CPU's decode of it alone.</summary>
    [Fact]
    public void FrameChunkedBatchDecodeMatchesTheCpu()
    {
        EmulatedCuda.Require();
        var ops = CudaTestDevice.Get(DType.F32);
        using var vae = AutoencoderKLHunyuanVideo.Load(ShortcutDir, ops);
        vae.ConvGatherElements = 1;
        var values = Numerics.Random(2 * 4 * 3 * 2 * 3, seed: 9);
        using var z = ops.FromHost(values, 2, 4, 3, 2, 3);
        using var video = vae.Decode(ops, z);
        Assert.Equal([2, 3, 9, 16, 24], video.Dims);
        using var cpu = new XDit.Kernels.Cpu.CpuOps();
        using var cpuVae = AutoencoderKLHunyuanVideo.Load(ShortcutDir, cpu);
        for (int i = 0; i < 2; i++)
        {
            using var zi = cpu.FromHost(values.AsSpan(i * 72, 72), 1, 4, 3, 2, 3);
            using var alone = cpuVae.Decode(cpu, zi);
            double err = Numerics.RelativeError(ops.ToHost(video.Slice(0, i, 1)), cpu.ToHost(alone));
            Assert.True(err < 1e-5, $"video {i}: relative error {err:E3} against the CPU's decode of it alone");
        }
    }

    /// <summary>The estimate bounds the device allocator's peak within 2×, whole frames per call and one frame per call
    /// (the smaller case only: the emulator's convolutions are slow, and the CPU test covers both).</summary>
    [Theory]
    [InlineData("hunyuanvideo_vae_shortcut", 3, 2, 3, false)]
    [InlineData("hunyuanvideo_vae_shortcut", 3, 2, 3, true)]
    public void MemoryEstimateBoundsTheDevicePeak(string fixture, int frames, int h, int w, bool framePerCall)
    {
        EmulatedCuda.Require();
        var ops = CudaTestDevice.Get(DType.F32);
        using var vae = AutoencoderKLHunyuanVideo.Load(TestPaths.Fixture(fixture), ops);
        if (framePerCall) vae.ConvGatherElements = 1;
        VideoVaeChecks.MemoryEstimateBoundsThePeak(VideoVae.Of(vae), ops, fixture, frames, h, w, cpu: false, _out);
    }

    /// <summary>HunyuanVideo's VAE (diffusers' defaults) at a real size on the emulator's no-exec device (nothing runs,
    /// device memory is only reserved): 9 latent frames of 68×120, 33 frames of 544×960, in bf16, decoded whole. The
    /// estimate bounds the allocator's peak and is within 1.5× of it.</summary>
    [Fact]
    public void RealSizeDecodePeakIsWithinTheEstimate()
    {
        EmulatedCuda.Require();
        var config = HunyuanVideoVaeConfig.From(JsonConfig.Parse("{}", "HunyuanVideo vae/config.json (diffusers' defaults)"));
        using var gpu = new CudaOps(0, DType.BF16);
        Assert.Equal(false, EmulatorNoExec.Set(1));
        try
        {
            using var source = new RandomCheckpoint("HunyuanVideo VAE", DType.BF16) { ShapeOnly = true };
            using var vae = AutoencoderKLHunyuanVideo.Load(config, source, gpu);
            using var z = gpu.Empty(DType.BF16, 1, 16, 9, 68, 120);
            gpu.Allocator.ResetPeak();
            long before = gpu.Allocator.BytesInUse;
            using (var video = vae.Decode(gpu, z)) Assert.Equal([1, 3, 33, 544, 960], video.Dims);
            long peak = gpu.Allocator.PeakBytesInUse - before, estimate = vae.EstimateDecodeBytes(1, 9, 68, 120);
            _out.WriteLine($"HunyuanVideo VAE, 9x68x120 in bf16: weights {vae.WeightBytes / 1e9:F2} GB, decode peak {peak / 1e9:F2} GB ({peak} bytes), " +
                           $"estimate {estimate / 1e9:F2} GB ({estimate} bytes, {(double)estimate / peak:F4}x)");
            VideoVaeChecks.EstimateIsWithin(peak, estimate, 1.5);
        }
        finally { EmulatorNoExec.Set(-1); }
    }
}
