using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Cuda;

/// <summary>
/// On CudaOps, the weights of GEMMs and convolutions are cast to the activation dtype once at load
/// (ModelWeights.GetOperand) instead of on every call, with the same numbers; norm weights keep the checkpoint's.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class CudaModelWeightsTests
{
    [Theory]
    [InlineData(DType.F32, DType.BF16)]
    [InlineData(DType.F16, DType.BF16)]
    [InlineData(DType.F32, DType.F16)]
    public void ProductWeightsArriveInTheActivationDTypeAndComputeWhatACastPerCallDid(DType checkpoint, DType activation)
    {
        var gpu = CudaTestDevice.Get(activation);
        var source = new RandomCheckpoint("test", checkpoint, scale: 0.3f);
        using var w = new ModelWeights(source, gpu);
        var linear = w.Root.Linear("proj", 40, 24);
        var norm = w.Get("norm.weight", 40);
        Assert.Equal(activation, linear.Weight.DType);
        Assert.Equal(activation, linear.Bias!.DType);
        Assert.Equal(checkpoint, norm.DType);

        // the same layer from the checkpoint's own dtype, which Linear casts on each call
        using var hostW = source.Make("proj.weight", [24, 40]);
        using var hostB = source.Make("proj.bias", [24]);
        using var rawW = gpu.Upload(hostW);
        using var rawB = gpu.Upload(hostB);
        Assert.Equal(checkpoint, rawW.DType);
        using var x = gpu.FromHost(Numerics.Random(3 * 7 * 40, 5), 3, 7, 40);
        using var once = linear.Apply(gpu, x, Activation.GeluTanh);
        using var perCall = gpu.Linear(x, rawW, rawB, Activation.GeluTanh);
        Assert.Equal(gpu.ToHost(perCall), gpu.ToHost(once));
        Assert.Equal((24 * 40 + 24) * activation.SizeOf() + 40 * checkpoint.SizeOf(), w.Bytes);   // the originals are gone
    }

    /// <summary>A model that asks for another operand dtype (SDXL's force_upcast VAE, float32 in an f16 pipeline)
    /// gets its GEMM and convolution weights in it; norm weights still keep the checkpoint's.</summary>
    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.F32)]
    public void AnOperandDTypeAskedForOverridesTheActivations(DType checkpoint)
    {
        var gpu = CudaTestDevice.Get(DType.F16);
        var source = new RandomCheckpoint("test", checkpoint, scale: 0.3f);
        using var w = new ModelWeights(source, gpu, DType.F32);
        Assert.Equal(DType.F32, w.OperandType);
        var linear = w.Root.Linear("proj", 40, 24);
        Assert.Equal(DType.F32, linear.Weight.DType);
        Assert.Equal(DType.F32, linear.Bias!.DType);
        Assert.Equal(checkpoint, w.Get("norm.weight", 40).DType);
        // the checkpoint's values exactly (an f32 checkpoint not rounded through the f16 activations)
        using var hostW = source.Make("proj.weight", [24, 40]);
        using var rawW = gpu.Upload(hostW);
        Assert.Equal(gpu.ToHost(rawW), gpu.ToHost(linear.Weight));
    }
}
