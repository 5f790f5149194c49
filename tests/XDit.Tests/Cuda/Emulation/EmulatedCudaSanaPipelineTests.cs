using XDit.Engine.Pipelines;
using XDit.Runtime;
using XDit.Tests.Pipelines;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// SanaPipeline on CudaOps in float32 (the emulator pass) gives what the CPU gives (the CPU is held to diffusers by
/// SanaPipelineTests): the Gemma prompt selection, the linear-attention transformer, the DC-AE decode and the copies
/// between host and device through the CUDA backend's host side. The default instruction is ~980 of the synthetic
/// tokenizer's tokens, minutes on the emulator, so a one-line instruction and max_sequence_length 16 are used: still
/// longer than the kept window, so the first-and-last selection runs.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedCudaSanaPipelineTests
{
    [Fact]
    public void SyntheticSanaFolderOnEmulatedCudaIsTheCpus()
    {
        EmulatedCuda.Require();
        var folder = SanaTestFolder.Create();
        var request = new GenerationRequest
        {
            Prompts = new[] { "A red cat" }, NegativePrompt = "Blurry dog", NumInferenceSteps = 2, GuidanceScale = 4.5f,
            Seed = 5, Height = 16, Width = 24, MaxSequenceLength = 16,
        };
        string[] instruction = ["Describe the picture in detail:", "User Prompt: "];
        float[] want;
        using (var cpu = (SanaPipeline)PipelineLoader.Load(folder))
        {
            cpu.ComplexHumanInstruction = instruction;
            want = cpu.Generate(request).Images.SelectMany(i => i.Pixels).ToArray();
        }
        using var pipeline = (SanaPipeline)PipelineLoader.Load(folder, CudaTestDevice.Get(DType.F32), ownsOps: false);
        pipeline.ComplexHumanInstruction = instruction;
        var got = pipeline.Generate(request).Images.SelectMany(i => i.Pixels).ToArray();
        double err = Numerics.RelativeError(got, want);
        Assert.True(err < 1e-5, $"SANA synthetic on emulated CUDA f32: {err:E2} relative from the CPU");
    }
}
