using XDit.Kernels;
using XDit.Runtime;
using XDit.Tests.Models;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>The checks the video VAEs' emulated CUDA tests make the same way (Wan, CogVideoX, HunyuanVideo): the
/// float32 decoder on a bf16 device and one frame per convolution call against diffusers. The memory estimate's checks
/// are <see cref="VideoVaeChecks"/>' (the same on the CPU and on the device).</summary>
internal static class EmulatedVideoVaeChecks
{
    /// <summary>The fixture's z in bf16 on the bf16 device <paramref name="ops"/>, as a pipeline's latents would be,
    /// decoded by <paramref name="float32"/> (weights and compute in float32): the video comes back float32 in
    /// diffusers' shape, within float32 tolerance of <paramref name="cpuVae"/>'s decode of the same rounded z (only
    /// z's rounding separates it from the float32 reference). Given <paramref name="bf16"/> (the plain decoder on the
    /// same device), the float32 video is also nearer diffusers' than the bf16 decode's, which comes back in bf16.</summary>
    public static void Float32DecoderMatchesTheFloat32Reference(IOps ops, string dir, VideoVae float32, IOps cpu, VideoVae cpuVae,
        VideoVae? bf16, ITestOutputHelper output)
    {
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var hostZ = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        using var zF32 = ops.Upload(hostZ);
        using var z = ops.Cast(zF32, DType.BF16);
        using var video = float32.Decode(ops, z);
        Assert.Equal(DType.F32, video.DType);
        Assert.Equal(want.Dims, video.Dims);
        using var zRounded = cpu.FromHost(ops.ToHost(z), z.Dims);
        using var cpuVideo = cpuVae.Decode(cpu, zRounded);
        double err = Numerics.RelativeError(ops.ToHost(video), cpu.ToHost(cpuVideo));
        double errRef = Numerics.RelativeError(ops.ToHost(video), want.ToFloatArray());
        output.WriteLine($"float32 decode on bf16: rel {err:E3} against the CPU's float32 decode of the rounded z, {errRef:E3} against diffusers");
        Assert.True(err < 1e-4, $"float32 decoder on a bf16 device: relative error {err:E3} against float32 on the CPU");
        if (bf16 is null) return;
        using var videoBf16 = bf16.Decode(ops, z);
        Assert.Equal(DType.BF16, videoBf16.DType);
        double errBf16 = Numerics.RelativeError(ops.ToHost(videoBf16), want.ToFloatArray());
        output.WriteLine($"bf16 decode: rel {errBf16:E3}");
        Assert.True(errRef < errBf16, $"float32 decode {errRef:E3} is not nearer the reference than the bf16 one {errBf16:E3}");
    }

    /// <summary>One frame per Conv2d call (the path real sizes take at full resolution, through CudaOps' strided
    /// gathers and the zero-stride upsampling copies) decodes the fixture's z to diffusers' video within 1e-4.</summary>
    public static void FrameChunkedDecodeMatchesDiffusers(IOps ops, VideoVae vae, string dir, ITestOutputHelper output)
    {
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var hostZ = io.ReadF32("in.z");
        using var want = io.ReadF32("out.sample");
        vae.OneFramePerCall();
        using var z = ops.Upload(hostZ);
        using var video = vae.Decode(ops, z);
        double err = Numerics.RelativeError(ops.ToHost(video), want.ToFloatArray());
        output.WriteLine($"frame-chunked decode on CUDA: rel {err:E3}");
        Assert.True(err < 1e-4, $"frame-chunked decode: relative error {err:E3} against diffusers");
    }
}
