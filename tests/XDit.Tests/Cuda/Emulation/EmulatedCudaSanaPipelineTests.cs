using XDit.Engine.Pipelines;
using XDit.Runtime;
using XDit.Tests.Pipelines;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// SanaPipeline on CudaOps in float32 (the emulator pass) gives what the CPU gives (the CPU is held to diffusers by
/// SanaPipelineTests): the Gemma prompt selection, the linear-attention transformer, the DC-AE decode and the copies
/// between host and device through the CUDA backend's host side. The default instruction is ~980 of the synthetic
/// tokenizer's tokens, minutes on the emulator, so a one-line instruction and max_sequence_length 16 are used: still
/// longer than the kept window, so the first-and-last selection runs. SANA Sprint likewise (its pipeline against
/// the CPU, its transformer against diffusers).
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedCudaSanaPipelineTests(ITestOutputHelper output)
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

    /// <summary>SanaSprintPipeline (guidance embedding, q/k norms, TrigFlow around SCM with its step noise) on CudaOps
    /// in float32 gives what the CPU gives (held to diffusers by SanaSprintPipelineTests).</summary>
    [Fact]
    public void SyntheticSanaSprintFolderOnEmulatedCudaIsTheCpus()
    {
        EmulatedCuda.Require();
        var folder = SanaSprintTestFolder.Create();
        var request = new GenerationRequest { Prompts = new[] { "A red cat" }, Seed = 5, Height = 16, Width = 24, MaxSequenceLength = 16 };
        string[] instruction = ["Describe the picture in detail:", "User Prompt: "];
        float[] want;
        using (var cpu = (SanaSprintPipeline)PipelineLoader.Load(folder))
        {
            cpu.ComplexHumanInstruction = instruction;
            want = cpu.Generate(request).Images.SelectMany(i => i.Pixels).ToArray();
        }
        using var pipeline = (SanaSprintPipeline)PipelineLoader.Load(folder, CudaTestDevice.Get(DType.F32), ownsOps: false);
        pipeline.ComplexHumanInstruction = instruction;
        var got = pipeline.Generate(request).Images.SelectMany(i => i.Pixels).ToArray();
        double err = Numerics.RelativeError(got, want);
        output.WriteLine($"sana sprint pipeline on emulated CUDA f32: rel {err:E3} from the CPU");
        Assert.True(err < 1e-5, $"SANA Sprint synthetic on emulated CUDA f32: {err:E2} relative from the CPU");
    }

    /// <summary>SANA Sprint's transformer on CudaOps against diffusers' float32 forward
    /// (tests/fixtures/sana_sprint_synthetic): float32 at the fixtures' 1e-4, f16 at a tolerance for its rounding
    /// (1.6e-3 measured).</summary>
    [Theory]
    [InlineData(DType.F32, 1e-4)]
    [InlineData(DType.F16, 1e-2)]
    public void SanaSprintTransformerMatchesDiffusersOnEmulatedCuda(DType dt, double tolerance)
    {
        EmulatedCuda.Require();
        double err = SanaSprintPipelineTests.TransformerError(CudaTestDevice.Get(dt));
        output.WriteLine($"sana sprint transformer {dt}: rel {err:E3}");
        Assert.True(err < tolerance, $"{dt}: relative error {err:G3} against diffusers");
    }
}
