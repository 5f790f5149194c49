using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>
/// Flux Kontext: the transformer fixture (noisy and reference tokens together), the position ids against diffusers',
/// and the pipeline on a tiny folder (SD3FluxTestFolders.FluxKontext) with a stand-in image encoder: what it hands the
/// transformer, that without an image it is FluxPipeline, and that the parallel methods equal one rank.
/// </summary>
public class FluxKontextPipelineTests
{
    [Fact]
    public void TransformerFixtureMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("flux_kontext"), ops);
        Assert.Equal(["sample", "sample_full"], results.Select(r => r.Name).Order());
        foreach (var r in results)
            TestContext.Current.TestOutputHelper?.WriteLine($"flux_kontext/{r.Name}: relative error {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
        foreach (var r in results)
            Assert.True(r.Passed, $"flux_kontext/{r.Name}: relative error {r.RelativeError:E3} (max abs {r.MaxAbsError:E3}) {r.Problem}");
    }

    [Fact]
    public void PositionIdsAreDiffusers()
    {
        // the fixture's 20 noisy tokens are a 4×5 grid (latent 8×10), its 12 reference tokens 3×4 (latent 6×8)
        using var fx = new FixtureCase(TestPaths.Fixture("flux_kontext"));
        using var expected = fx.Input("img_ids");
        float[] ids = [.. FluxLatents.ImageIds(8, 10), .. FluxLatents.ImageIds(6, 8, first: 1)];
        Assert.Equal(expected.ToFloatArray(), ids);
    }

    /// <summary>A stand-in for the VAE encoder: latent channel c at (y, x) is the mean of image channel c mod 3 over
    /// the factor×factor block, times (1 + c/4), minus 0.1: deterministic and different for every image.</summary>
    internal static Func<IOps, Tensor, Tensor> StandInEncoder(int channels, int factor) => (ops, image) =>
    {
        var px = ops.ToHost(image);
        int h = image.Dim(2), w = image.Dim(3), lh = h / factor, lw = w / factor;
        var z = new float[channels * lh * lw];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < lh; y++)
                for (int x = 0; x < lw; x++)
                {
                    float sum = 0;
                    for (int dy = 0; dy < factor; dy++)
                        for (int dx = 0; dx < factor; dx++)
                            sum += px[((c % 3) * h + y * factor + dy) * w + x * factor + dx];
                    z[(c * lh + y) * lw + x] = sum / (factor * factor) * (1 + c / 4f) - 0.1f;
                }
        return ops.FromHost(z, 1, channels, lh, lw);
    };

    /// <summary>A 24×20 (W×H) picture with some structure in every channel.</summary>
    internal static InputImage TestImage(int width = 24, int height = 20)
    {
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                    rgb[(y * width + x) * 3 + c] = (byte)((x * 37 + y * 91 + c * 53 + x * y * 7) % 256);
        return new InputImage(rgb, height, width);
    }

    static GenerationRequest Request(InputImage? image, int prompts = 1) => new()
    {
        Prompts = Enumerable.Range(0, prompts).Select(i => i == 0 ? "red cat" : "blue dog").ToArray(),
        NumInferenceSteps = 2, Seed = 5, Height = 32, Width = 32, MaxArea = 32 * 32, AutoResize = false, Image = image,
    };

    static FluxKontextPipeline Load(string folder)
    {
        var p = (FluxKontextPipeline)PipelineLoader.Load(folder);
        p.ImageEncoder = StandInEncoder(4, 2);
        return p;
    }

    [Fact]
    public void TheTransformerReadsTheNoisyThenTheReferenceTokens()
    {
        var folder = SD3FluxTestFolders.FluxKontext();
        var image = TestImage();
        using var pipeline = Load(folder);
        var recorder = new SD3FluxStepRecorder();
        pipeline.Loop = new StandardDenoiseLoop(recorder);
        pipeline.Generate(Request(image));

        // 32×32 → latent 16×16 → 64 noisy tokens; the 24×20 image (kept: a multiple of 4) → latent 12×10 → 30 tokens
        int n = 64, m = 30, features = 16;
        using var ops = new CpuOps();
        using var planes = ops.FromHost(image.ToVaeInput(20, 24), 1, 3, 20, 24);
        using var encoded = StandInEncoder(4, 2)(ops, planes);
        var reference = FluxLatents.Pack(ops.ToHost(encoded), 1, 4, 10, 12);
        Assert.Equal(2, recorder.Steps.Count);
        foreach (var step in recorder.Steps)
        {
            Assert.Equal([1, n + m, features], step.Hidden);
            Assert.Equal(reference, step.HiddenValues[(n * features)..]);
            Assert.Equal([.. FluxLatents.ImageIds(16, 16), .. FluxLatents.ImageIds(10, 12, first: 1)], step.ImgIds!);
        }
        // the noisy tokens move between steps, the reference tokens stay
        Assert.NotEqual(recorder.Steps[0].HiddenValues[..(n * features)], recorder.Steps[1].HiddenValues[..(n * features)]);
    }

    [Fact]
    public void WithoutAnImageItIsFluxAndTheImageChangesTheResult()
    {
        var kontext = SD3FluxTestFolders.FluxKontext();
        var flux = SD3FluxTestFolders.Flux();
        float[] plain, edited, noImage;
        using (var p = PipelineLoader.Load(flux))
            plain = ResultPixels.Pixels(p.Generate(Request(null) with { MaxArea = null, AutoResize = true }));
        using (var p = Load(kontext))
        {
            noImage = ResultPixels.Pixels(p.Generate(Request(null)));
            edited = ResultPixels.Pixels(p.Generate(Request(TestImage())));
        }
        Assert.Equal(plain, noImage);
        Assert.True(Numerics.RelativeError(edited, plain) > 1e-3, "the reference image made no difference");
    }

    [Fact]
    public void OutputSizeFollowsMaxAreaAndWarns()
    {
        using var p = Load(SD3FluxTestFolders.FluxKontext());
        var warnings = new List<string>();
        p.Warning += (_, w) => warnings.Add(w);
        // 32×16 asked at max_area 32·32: aspect 2 → width round(√2048) = 45 → 44, height round(√512) = 23 → 20
        var result = p.Generate(Request(TestImage()) with { Height = 16, Width = 32 });
        Assert.Equal((20, 44), (result.Height, result.Width));
        Assert.Contains(warnings, w => w.Contains("became 44x20", StringComparison.Ordinal));
    }

    [Fact]
    public void TheEstimateCountsTheSizeGeneratedAndTheReferenceTokens()
    {
        using var p = Load(SD3FluxTestFolders.FluxKontext());
        // 16×32 asked at max_area 32·32 runs at 20×44: 55 noisy tokens, and the 24×20 image adds 30
        var asked = Request(null) with { Height = 16, Width = 32 };
        var withImage = asked with { Image = TestImage() };
        var generated = Request(null) with { Height = 20, Width = 44, MaxArea = 20 * 44 };
        Assert.Equal(p.Estimate(generated).DenoiseBytes, p.Estimate(asked).DenoiseBytes);
        Assert.True(p.Estimate(withImage).DenoiseBytes > p.Estimate(asked).DenoiseBytes);
        Assert.True(p.Estimate(withImage).Teraflops > p.Estimate(asked).Teraflops);
    }

    [Fact]
    public void PipelinesWithoutAnImageInputRefuseOne()
    {
        // PixArt: SD3, Flux and SDXL take an image (image-to-image)
        using var p = PipelineLoader.Load(TestPaths.DemoModel);
        var e = Assert.Throws<ArgumentException>(() => p.Generate(Request(TestImage()) with { MaxArea = null, AutoResize = true }));
        Assert.Contains("PixArtPipeline takes no input image", e.Message);
    }

    /// <summary>The pipe_flux_kontext case with diffusers' own image latents standing in for the VAE encoder: every
    /// stage after the encoder (ids, joined tokens, true CFG, schedule, decode) against diffusers, and the encoder
    /// given the image at the size diffusers encoded (64×48).</summary>
    [Fact]
    public void GivenDiffusersImageLatentsTheRestMatchesDiffusers()
    {
        using var fx = new FixtureCase(TestPaths.Fixture("pipe_flux_kontext"));
        using var ops = new CpuOps();
        using var imageLatents = fx.Expected("image_latents");
        var latent = FluxLatents.Unpack(imageLatents.ToFloatArray()[..(12 * 64)], 1, 16, 6, 8);
        using var p = (FluxKontextPipeline)PipelineLoader.Load(fx.Dir, ops, ownsOps: false);
        (int, int)? encodedSize = null;
        p.ImageEncoder = (o, image) => { encodedSize = (image.Dim(2), image.Dim(3)); return o.FromHost(latent, 1, 16, 6, 8); };
        var trace = new PipelineTrace();
        p.Trace = trace;
        var result = p.Generate(PipelineFixtureRunner.Request(fx));
        Assert.Equal((48, 64), encodedSize);
        foreach (var name in new[] { "img_ids", "image_latents", "prompt_embeds", "negative_prompt_embeds", "latents" })
        {
            using var e = fx.Expected(name);
            double err = Numerics.RelativeError(trace.Find(name)!.Values, e.ToFloatArray());
            Assert.True(err < 1e-4, $"{name}: relative error {err:E3}");
        }
        using var images = fx.Expected("images");
        double imageErr = Numerics.RelativeError(ResultPixels.Pixels(result), images.ToFloatArray());
        TestContext.Current.TestOutputHelper?.WriteLine($"pipe_flux_kontext with diffusers' image latents: images relative error {imageErr:E3}");
        Assert.True(imageErr < 1e-4, $"images: relative error {imageErr:E3}");
    }

    public static TheoryData<string> Meshes => new() { "ulysses2", "ring2", "cfg2", "cfg2-ulysses2", "data2", "ring2-vae", "ring2-pvae" };

    [Theory]
    [MemberData(nameof(Meshes))]
    public void ParallelEqualsOneRank(string mesh)
    {
        var folder = SD3FluxTestFolders.FluxKontext();
        var (config, request) = mesh switch
        {
            "ulysses2" => (new ParallelConfig { WorldSize = 2, UlyssesDegree = 2 }, Request(TestImage())),
            "ring2" => (new ParallelConfig { WorldSize = 2, RingDegree = 2 }, Request(TestImage())),
            // true CFG: [negative; positive] rows, one per cfg rank
            "cfg2" => (new ParallelConfig { WorldSize = 2, UseCfgParallel = true }, Request(TestImage()) with { NegativePrompt = "blurry", TrueCfgScale = 2f }),
            "cfg2-ulysses2" => (new ParallelConfig { WorldSize = 4, UseCfgParallel = true, UlyssesDegree = 2 }, Request(TestImage()) with { NegativePrompt = "blurry", TrueCfgScale = 2f }),
            "data2" => (new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, Request(TestImage(), prompts: 2)),
            // the VAE's own encoder on every rank (each encodes the image itself)
            "ring2-vae" => (new ParallelConfig { WorldSize = 2, RingDegree = 2 }, Request(TestImage())),
            // the VAE's own encoder split in row bands over the ranks (--use-parallel-vae), as the decode
            "ring2-pvae" => (new ParallelConfig { WorldSize = 2, RingDegree = 2, UseParallelVae = true }, Request(TestImage())),
            _ => throw new ArgumentException(mesh),
        };
        bool standIn = !mesh.EndsWith("vae", StringComparison.Ordinal);
        float[] serial;
        using (var p = (FluxKontextPipeline)PipelineLoader.Load(folder))
        {
            if (standIn) p.ImageEncoder = StandInEncoder(4, 2);
            serial = ResultPixels.Pixels(p.Generate(request));
        }
        var parallel = ParallelGeneration.Run(folder, config, request,
            onRankPipeline: (p, _) => { if (standIn) ((FluxKontextPipeline)p).ImageEncoder = StandInEncoder(4, 2); }).Result;
        double err = Numerics.RelativeError(ResultPixels.Pixels(parallel), serial);
        Assert.True(err < 1e-5, $"{mesh}: relative error {err:G3} against one rank");
    }

    /// <summary>The step caches (`--use-fbcache`, `--use-teacache`) on Kontext, whose model input holds the reference
    /// tokens after the noisy ones: at threshold 0 every step is computed and the picture equals the uncached one
    /// bit for bit; at a threshold no change reaches, the steps the cache may skip are skipped (First-Block-Cache: all
    /// after the first; TeaCache: all but the first and the last) and the picture stays a finite image that moved.</summary>
    [Theory]
    [InlineData("fbcache")]
    [InlineData("teacache")]
    public void TheStepCachesRunWithTheReferenceTokens(string method)
    {
        const int steps = 4;
        using var p = Load(SD3FluxTestFolders.FluxKontext());
        var request = Request(TestImage()) with { NumInferenceSteps = steps };
        var plain = ResultPixels.Pixels(p.Generate(request));
        StepCacheLoop Loop(double threshold) => method == "fbcache" ? StepCacheLoop.FirstBlockCache(threshold) : StepCacheLoop.TeaCache(threshold);

        var exact = Loop(0);
        p.Loop = exact;
        Assert.Equal(plain, ResultPixels.Pixels(p.Generate(request)));
        Assert.Equal((steps, 0), (exact.Last!.Stats.Computed, exact.Last.Stats.Skipped));

        var skipping = Loop(1e6);
        p.Loop = skipping;
        var cached = ResultPixels.Pixels(p.Generate(request));
        var stats = skipping.Last!.Stats;
        int[] computed = method == "fbcache" ? [0] : [0, steps - 1];
        Assert.Equal(computed, stats.ComputedSteps);
        Assert.Equal(steps, stats.Computed + stats.Skipped);
        Assert.All(cached, v => Assert.InRange(v, 0f, 1f));
        double err = Numerics.RelativeError(cached, plain);
        TestContext.Current.TestOutputHelper?.WriteLine($"{method} skipping {stats.Skipped} of {steps} steps: relative error {err:E3} against no cache");
        // the skipped steps reuse a residual over the noisy and the reference tokens: the picture moves, not far
        // (5.9e-2 measured for both)
        Assert.True(err > 0 && err < 0.2, $"{method} skipping {stats.Skipped} of {steps} steps: relative error {err:E3} against no cache");
    }

    [Fact]
    public void PipeFusionIsRefusedInOneLine()
    {
        var folder = SD3FluxTestFolders.FluxKontext();
        var config = new ParallelConfig { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2, WarmupSteps = 1 };
        var e = Assert.ThrowsAny<Exception>(() => ParallelGeneration.Run(folder, config, Request(TestImage()),
            onRankPipeline: (p, _) => ((FluxKontextPipeline)p).ImageEncoder = StandInEncoder(4, 2)));
        var inner = e is AggregateException a ? a.Flatten().InnerExceptions[0] : e;
        Assert.IsType<NotSupportedException>(inner);
        Assert.Contains("PipeFusion", inner.Message);
        Assert.DoesNotContain('\n', inner.Message);
    }
}

/// <summary>The size rules and the resize of FluxKontextPipeline's input against diffusers and Pillow.</summary>
public class KontextSizesTests
{
    // (height, width) asked → generated, max_area 1024², multiple 16: evaluated with diffusers' arithmetic
    [Theory]
    [InlineData(1024, 1024, 1024, 1024)]
    [InlineData(512, 768, 832, 1248)]
    [InlineData(768, 512, 1248, 832)]
    [InlineData(1080, 1920, 768, 1360)]
    [InlineData(100, 3000, 176, 5600)]
    [InlineData(333, 777, 656, 1552)]
    public void OutputSizeIsDiffusers(int h, int w, int eh, int ew)
        => Assert.Equal((eh, ew), KontextSizes.Output(h, w, KontextSizes.DefaultMaxArea, 16));

    // (height, width) of the image → resized with and without _auto_resize, multiple 16
    [Theory]
    [InlineData(1080, 1920, 752, 1392, 1072, 1920)]
    [InlineData(1024, 1024, 1024, 1024, 1024, 1024)]
    [InlineData(600, 800, 880, 1184, 592, 800)]
    [InlineData(480, 640, 880, 1184, 480, 640)]
    [InlineData(1000, 1500, 832, 1248, 992, 1488)]
    [InlineData(77, 1000, 672, 1568, 64, 992)]
    [InlineData(3000, 100, 1568, 672, 2992, 96)]
    [InlineData(17, 33, 720, 1456, 16, 32)]
    public void ReferenceSizeIsDiffusers(int h, int w, int ah, int aw, int kh, int kw)
    {
        Assert.Equal((ah, aw), KontextSizes.Reference(h, w, autoResize: true, 16));
        Assert.Equal((kh, kw), KontextSizes.Reference(h, w, autoResize: false, 16));
    }

    [Fact]
    public void ImagesSmallerThanTheMultipleAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => KontextSizes.Reference(15, 400, true, 16));
        Assert.Contains("400x15", e.Message);
    }

    /// <summary>Pillow 9.4's Image.resize(LANCZOS) of the test pattern (FluxKontextPipelineTests.TestImage) at four
    /// size pairs (down, up, mixed, vertical only), concatenated in tests/fixtures/image_resize/pillow_lanczos.bin.</summary>
    [Fact]
    public void LanczosEqualsPillowByteForByte()
    {
        var expected = File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "image_resize", "pillow_lanczos.bin"));
        (int W, int H, int NW, int NH)[] cases = [(37, 23, 16, 12), (7, 5, 12, 9), (30, 6, 11, 14), (24, 20, 24, 13)];
        int offset = 0;
        foreach (var (w, h, nw, nh) in cases)
        {
            var image = FluxKontextPipelineTests.TestImage(w, h);
            var resized = image.Resize(nh, nw).Rgb;
            Assert.Equal(expected.AsSpan(offset, nw * nh * 3).ToArray(), resized);
            offset += nw * nh * 3;
        }
        Assert.Equal(expected.Length, offset);
    }
}
