using XDit.Engine.Pipelines;
using XDit.Tests.Pipelines;

namespace XDit.Tests.Robustness;

/// <summary>The estimate of a request's memory, made before any work (issue 22, item 1): never below what a run
/// really holds, not wildly above it, and a request past the limit is refused in one line before any step.</summary>
public class WorkEstimateTests
{
    /// <summary>Activations a run held at its peak while denoising and decoding (the backend's peak from the end of
    /// the text encoding, less what was in use then) against the estimate, on the demo and on the three pipeline
    /// fixtures, at two sizes, with guidance (two rows) and with two images. The text encoders' activations are
    /// not part of the estimate: bounded by max_sequence_length, they are small beside the weights of real models
    /// (though not beside these tiny ones').</summary>
    [Theory]
    [InlineData("demo", 32, 2)]
    [InlineData("demo", 64, 1)]
    [InlineData("pipe_pixart_sigma", 64, 1)]
    [InlineData("pipe_sd3", 64, 1)]
    [InlineData("pipe_flux", 64, 2)]
    [InlineData("pipe_flux", 128, 1)]
    public void TheEstimateIsAboveTheMeasuredPeakAndWithinFourTimesIt(string model, int size, int images)
    {
        var dir = model == "demo" ? TestPaths.DemoModel : TestPaths.Fixture(model);
        using var pipeline = PipelineLoader.Load(dir);
        var request = GenerationRequest.For("a red circle") with { NumInferenceSteps = 1, Height = size, Width = size, NumImagesPerPrompt = images };
        var estimate = pipeline.Estimate(request);
        var arena = pipeline.Ops.Allocator;
        long atEncoded = 0;
        pipeline.Progress += (_, p) =>
        {
            if (p.Stage != "encode") return;
            atEncoded = arena.BytesInUse;
            arena.ResetPeak();
        };
        pipeline.Generate(request);
        long measured = arena.PeakBytesInUse - atEncoded;
        TestContext.Current.TestOutputHelper?.WriteLine($"{model} {size}² ×{images}: measured {measured} B, estimated {estimate.ActivationBytes} B ({estimate.ActivationBytes / (double)measured:F2}×)");
        Assert.True(pipeline.WeightBytes > 0);
        Assert.InRange(estimate.ActivationBytes, measured, 4 * measured);
    }

    /// <summary>The VAE encoder's activations (issue: Kontext and image-to-image left them out): Flux Kontext encoding
    /// a 96×96 reference for a 16×16 picture peaks in the encoder, above the denoising and decoding figures, and
    /// the estimate covers that peak within four times; SD3's image-to-image encodes at the generated size, counted
    /// too (there the decode of the same size stays the larger). The runs are measured from the start of a second
    /// generation, after the first has loaded the encoder's weights (loaded on the first image).</summary>
    [Theory]
    [InlineData("kontext")]
    [InlineData("sd3")]
    public void TheEstimateCountsTheVaeEncoderOfTheInputImage(string kind)
    {
        var folder = kind == "kontext" ? SD3FluxTestFolders.FluxKontext() : SD3FluxTestFolders.SD3();
        using var pipeline = PipelineLoader.Load(folder);
        var request = new GenerationRequest { Prompts = ["red cat"], NumInferenceSteps = 1, Seed = 5, MaxSequenceLength = 8 };
        request = kind == "kontext"
            ? request with { Height = 16, Width = 16, MaxArea = 16 * 16, AutoResize = false, Image = FluxKontextPipelineTests.TestImage(96, 96) }
            : request with { Height = 64, Width = 64, Image = FluxKontextPipelineTests.TestImage(40, 30) };
        var estimate = pipeline.Estimate(request);
        Assert.Equal(0, pipeline.Estimate(request with { Image = null }).EncodeBytes);
        Assert.True(estimate.EncodeBytes > 0, $"{kind}: the estimate counts no encoder ({estimate})");

        pipeline.Generate(request);
        var arena = pipeline.Ops.Allocator;
        long atStart = arena.BytesInUse;
        arena.ResetPeak();
        pipeline.Generate(request);
        long measured = arena.PeakBytesInUse - atStart;
        TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: measured {measured} B; estimated encode {estimate.EncodeBytes} B, denoise {estimate.DenoiseBytes} B, decode {estimate.DecodeBytes} B ({estimate.ActivationBytes / (double)measured:F2}x)");
        Assert.InRange(estimate.ActivationBytes, measured, 4 * measured);
        if (kind == "kontext")
        {
            // without the encoder the estimate would fall below what the run holds
            Assert.True(Math.Max(estimate.DenoiseBytes, estimate.DecodeBytes) < measured, $"the encoder is not this run's peak: {estimate}, measured {measured} B");
            Assert.Contains("encoding the image", estimate.ToString());
        }
    }

    [Fact]
    public void ARequestPastTheMemoryLimitIsRefusedBeforeAnyStepNamingEstimateAndLimit()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        int progress = 0;
        pipeline.Progress += (_, _) => progress++;
        var request = GenerationRequest.For("a red circle") with { NumInferenceSteps = 2 };
        var estimate = pipeline.Estimate(request);
        pipeline.Limits = new GenerationLimits { MaxMemoryBytes = estimate.TotalBytes - 1 };
        var e = Assert.Throws<RequestLimitException>(() => pipeline.Generate(request));
        Assert.Equal("max_memory", e.Field);
        Assert.Contains($"needs {estimate}", e.Message);
        Assert.Contains("(--max-memory)", e.Message);
        Assert.Equal(0, progress);
        pipeline.Limits = new GenerationLimits { MaxMemoryBytes = estimate.TotalBytes };
        pipeline.Generate(request);   // at the limit it runs
        Assert.True(progress > 0);
    }

    /// <summary>Without a limit the backend's memory is the bound: 31 pictures of 4096² on the CPU (within the pixel
    /// limits) do not fit in this machine's memory and are refused at once, instead of allocating until the kernel
    /// kills the process.</summary>
    [Fact]
    public void WithoutALimitTheBackendsMemoryIsTheBound()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        pipeline.Limits = new GenerationLimits { MaxTotalPixels = int.MaxValue / 4 };
        var request = GenerationRequest.For("a red circle") with { Height = 4096, Width = 4096, NumImagesPerPrompt = 31, NumInferenceSteps = 1 };
        long capacity = pipeline.Ops.Allocator.CapacityBytes;
        Assert.True(capacity > 0);
        if (pipeline.Estimate(request).TotalBytes <= capacity) Assert.Skip($"this machine has {capacity} B: the request would fit");
        var e = Assert.Throws<RequestLimitException>(() => pipeline.Generate(request));
        Assert.Contains("more than the host's", e.Message);
    }

    [Theory]
    [InlineData("24G", 24L << 30)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("512MB", 512L << 20)]
    [InlineData(" 4096 ", 4096L)]
    [InlineData("2k", 2048L)]
    public void MemorySizesAreReadAsPeopleWriteThem(string text, long bytes) => Assert.Equal(bytes, XDit.Runtime.ByteSize.Parse(text, "--max-memory"));

    [Theory]
    [InlineData("2x")]
    [InlineData("-1G")]
    [InlineData("0")]
    [InlineData("G")]
    [InlineData("9e30T")]
    public void ABadMemorySizeIsOneLineNamingTheFlag(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => XDit.Cli.Commands.ServeCommand.HostOptions(10, 1024, 1, null, 4, text));
        Assert.StartsWith("--max-memory must be a positive size", e.Message);
        Assert.Contains($"got '{text}'", e.Message);
        Assert.Equal(64L << 20, XDit.Cli.Commands.ServeCommand.HostOptions(10, 1024, 1, null, 4, "64M").Limits.MaxMemoryBytes);
    }
}
