using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Kernels;

namespace XDit.Tests.Robustness;

/// <summary>NaN and infinity stop a run with a line naming where they were found, instead of a black or white
/// picture (issue 22, item 4).</summary>
public class NonFiniteTests
{
    /// <summary>The real loop, then one value of the latents poisoned: what a NaN weight or bias leaves behind.</summary>
    sealed class PoisonedLoop(IDenoiseLoop inner, float poison) : IDenoiseLoop
    {
        public void Run(IOps ops, DenoiseJob job, IProgress<PipelineProgress>? progress)
        {
            inner.Run(ops, job, progress);
            job.Latents[5] = poison;
        }
    }

    /// <summary>The real forward, with the output of one step turned to infinity: what an overflowing layer gives.</summary>
    sealed class OverflowAt(int badStep) : IDenoiseExecutor
    {
        public XDit.Runtime.Tensor Predict(IOps ops, XDit.Models.DiffusionTransformer model, XDit.Models.DitInputs inputs, int step)
        {
            var output = model.Forward(ops, inputs);
            if (step != badStep) return output;
            var host = ops.ToHost(output);
            int[] shape = output.ShapeSpan.ToArray();
            output.Dispose();
            Array.Fill(host, float.PositiveInfinity);
            return ops.FromHost(host, shape);
        }
    }

    [Fact]
    public void ANonFiniteStepStopsTheRunNamingTheStep()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        pipeline.Loop = new StandardDenoiseLoop(new OverflowAt(badStep: 1));
        int steps = 0;
        pipeline.Progress += (_, p) => { if (p.Stage == "denoise") steps++; };
        var e = Assert.Throws<NonFiniteException>(() => pipeline.Generate(new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 4 }));
        Assert.StartsWith("after denoising step 2 of 4, the latents hold", e.Message);
        Assert.Equal(1, steps);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "+infinity")]
    public void NonFiniteGivenLatentsAreRefusedBeforeAnyWork(float bad, string kind)
    {
        var latents = new float[64];
        latents[17] = bad;
        var r = new GenerationRequest { Prompts = ["x"], Latents = latents };
        var e = Assert.Throws<NonFiniteException>(() => r.Validate());
        Assert.Contains($"the given latents hold {kind} at index 17", e.Message);
    }

    [Fact]
    public void NonFiniteDenoisedLatentsStopTheRunBeforeDecoding()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        pipeline.Loop = new PoisonedLoop(pipeline.Loop, float.NaN);
        var e = Assert.Throws<NonFiniteException>(() => pipeline.Generate(new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 1 }));
        Assert.Contains("the denoised latents hold NaN at index 5 (1 of", e.Message);
    }

    [Fact]
    public void NonFiniteDecodedPixelsStopTheRun()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        pipeline.DecodeOverride = (vae, z) =>
        {
            var image = vae.Decode(pipeline.Ops, z);
            var px = pipeline.Ops.ToHost(image);
            int[] shape = [image.Dim(0), image.Dim(1), image.Dim(2), image.Dim(3)];
            image.Dispose();
            px[3] = float.NegativeInfinity; // what an infinite VAE bias gives
            return pipeline.Ops.FromHost(px, shape);
        };
        var e = Assert.Throws<NonFiniteException>(() => pipeline.Generate(new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 1 }));
        Assert.Contains("the decoded pixels hold -infinity at index 3", e.Message);
    }

    [Fact]
    public void TheCheckFindsTheFirstBadValueAndCountsThem()
    {
        Assert.Equal(-1, FiniteCheck.FirstNonFinite([0f, -1f, float.MaxValue, float.Epsilon]));
        Assert.Equal(2, FiniteCheck.FirstNonFinite([0f, 1f, float.NaN, float.NegativeInfinity]));
        var e = Assert.Throws<NonFiniteException>(() => FiniteCheck.Require([0f, 1f, float.NaN, float.NegativeInfinity], "x"));
        Assert.Contains("(2 of 4 values are not finite)", e.Message);
    }
}
