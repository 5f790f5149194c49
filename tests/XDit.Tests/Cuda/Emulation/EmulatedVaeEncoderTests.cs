using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The VAE encoder on emulated CUDA beyond the fixture pass (which runs it in f32, bf16 and f16): a float32 encoder
/// (AutoencoderKL.Float32, SDXL's force_upcast VAE in an f16 pipeline) on an f16 device computes in float32 and hands
/// EncodeLatents back in f16, nearer the float32 reference than the all-f16 encoder.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedVaeEncoderTests
{
    readonly ITestOutputHelper _out;
    public EmulatedVaeEncoderTests(ITestOutputHelper output) => _out = output;

    [Fact]
    public void Float32EncoderOnAnF16DeviceComputesInFloat32AndReturnsF16Latents()
    {
        EmulatedCuda.Require();
        var dir = TestPaths.Fixture("vae16_encode");
        var ops = CudaTestDevice.Get(DType.F16);
        using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
        using var hostImage = io.ReadF32("in.sample");
        using var mean = io.ReadF32("out.mean");
        var config = AutoencoderKLConfig.Load(Path.Combine(dir, "config.json"));
        var want = mean.ToFloatArray().Select(m => m * (float)config.ScalingFactor).ToArray();

        double Error(bool float32, out DType momentsType)
        {
            using var encoder = VaeEncoder.Load(dir, ops, float32);
            using var image = ops.FromHost(hostImage.ToFloatArray(), hostImage.Dims);   // in the activations' f16
            // one encode: its moments' dtype, then the latents made from them as EncodeLatents makes them
            using var moments = encoder.Moments(ops, image);
            momentsType = moments.DType;
            using var latents = encoder.Latents(ops, moments);
            Assert.Equal(DType.F16, latents.DType);
            Assert.Equal([1, 16, 16, 24], latents.Dims);
            return Numerics.RelativeError(ops.ToHost(latents), want);
        }
        double e32 = Error(true, out var t32), e16 = Error(false, out var t16);
        _out.WriteLine($"EncodeLatents on f16: float32 encoder rel {e32:E3}, f16 encoder rel {e16:E3}");
        Assert.Equal((DType.F32, DType.F16), (t32, t16));
        // float32 compute leaves only the final rounding to f16 (2^-11 relative at most)
        Assert.True(e32 < 5e-4 && e32 < e16, $"float32 encoder {e32:E2}, f16 encoder {e16:E2} against the float32 reference");
    }
}
