using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>
/// SD3's, Flux's and SDXL's image-to-image (<see cref="ImageToImage"/>) on the tiny folders (SD3FluxTestFolders): the
/// strength's cut of the schedule against diffusers' get_timesteps arithmetic, the refusals, what the image and the
/// strength change, and the parallel meshes against one rank. Against diffusers itself: the pipe_sd3_img2img and
/// pipe_flux_img2img fixtures (PipelineFixtureTests), and SDXL's reference on its synthetic folder here.
/// </summary>
public class ImageToImageTests
{
    // (steps, strength) → t_start, evaluated with Python: int(max(n − min(n·strength, n), 0)) in float64
    [Theory]
    [InlineData(3, 0.6, 1)]
    [InlineData(5, 0.6, 2)]    // 5·0.6 is 3.0 in float64; 0.6f would give 3.0000001 and cut at 1
    [InlineData(4, 0.7, 1)]
    [InlineData(28, 0.6, 11)]
    [InlineData(10, 1.0, 0)]
    [InlineData(3, 0.2, 2)]    // 3·0.2 = 0.6 steps still leaves one, as diffusers
    [InlineData(1, 0.5, 0)]
    public void TheStrengthCutsTheScheduleAsDiffusersGetTimesteps(int steps, double strength, int skipped)
        => Assert.Equal(skipped, ImageToImage.SkippedSteps(steps, strength));

    [Fact]
    public void AStrengthThatLeavesNoStepIsRefusedInOneLine()
    {
        var e = Assert.Throws<ArgumentException>(() => ImageToImage.SkippedSteps(3, 0.0));
        Assert.Contains("strength 0 with 3 steps leaves no denoising step", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void AStrengthOutsideZeroToOneIsRefused(double strength)
    {
        var e = Assert.Throws<ArgumentException>(() => (Request(Image()) with { Strength = strength }).Validate());
        Assert.Contains("strength must lie in [0, 1]", e.Message);
    }

    static InputImage Image(int variant = 0) => FluxKontextPipelineTests.TestImage(24 + variant, 20);

    static GenerationRequest Request(InputImage? image, int prompts = 1) => new()
    {
        Prompts = Enumerable.Range(0, prompts).Select(i => i == 0 ? "red cat" : "blue dog").ToArray(),
        NumInferenceSteps = 3, Seed = 5, Height = 16, Width = 16, MaxSequenceLength = 8, Image = image,
    };

    static string Folder(string kind) => kind switch
    {
        "sd3" => SD3FluxTestFolders.SD3(),
        "sdxl" => SD3FluxTestFolders.Sdxl(),
        _ => SD3FluxTestFolders.Flux(),
    };

    // (steps, strength) → t_start of StableDiffusionXLImg2ImgPipeline: n − min(int(n·strength), n)
    [Theory]
    [InlineData(5, 0.6, 2)]
    [InlineData(3, 0.6, 2)]    // int(1.8) = 1 kept
    [InlineData(28, 0.3, 20)]
    [InlineData(10, 1.0, 0)]
    public void SdxlTruncatesTheKeptStepsFirst(int steps, double strength, int skipped)
        => Assert.Equal(skipped, ImageToImage.SkippedStepsSdxl(steps, strength));

    /// <summary>diffusers' own StableDiffusionXLImg2ImgPipeline (cpuref, float32; tests/fixtures/sdxl_synthetic/
    /// make_img2img.py) on the tiny SDXL folder: a 25x17 picture generated at 24x16, "red cat" against "cat",
    /// guidance 5, 5 steps at strength 0.6 (the last 3), its two draws fed back.</summary>
    [Fact]
    public void SdxlMatchesDiffusersImg2ImgOnTheSyntheticFolder()
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.Fixture("sdxl_synthetic"), "img2img.safetensors"));
        using var image = reference.ReadF32("in.image");
        using var imageNoise = reference.ReadF32("in.image_noise");
        using var noise = reference.ReadF32("in.latents");
        var rgb = image.ToFloatArray().Select(v => (byte)v).ToArray();
        using var p = PipelineLoader.Load(SD3FluxTestFolders.Sdxl());
        var trace = new PipelineTrace();
        p.Trace = trace;
        var result = p.Generate(new GenerationRequest
        {
            Prompts = ["red cat"], NegativePrompt = "cat", NumInferenceSteps = 5, GuidanceScale = 5f, Strength = 0.6,
            Image = new InputImage(rgb, image.Dim(0), image.Dim(1)), ImageNoise = imageNoise.ToFloatArray(), Latents = noise.ToFloatArray(),
        });
        Assert.Equal((3, 16, 24), (result.Steps, result.Height, result.Width));
        foreach (var name in new[] { "start_latents", "latents" })
        {
            using var expected = reference.ReadF32("out." + name);
            double e = Numerics.RelativeError(trace.Find(name)!.Values, expected.ToFloatArray());
            Assert.True(e < 1e-4, $"{name}: relative error {e:G3} against diffusers");
        }
        using var images = reference.ReadF32("out.images");
        double err = Numerics.RelativeError(ResultPixels.Pixels(result), images.ToFloatArray());
        TestContext.Current.TestOutputHelper?.WriteLine($"sdxl_synthetic img2img: images relative error {err:E3}");
        Assert.True(err < 1e-4, $"images: relative error {err:G3} against diffusers");
    }

    [Fact]
    public void SdxlRefusesASizeWithAnImage()
    {
        using var p = PipelineLoader.Load(SD3FluxTestFolders.Sdxl());
        var e = Assert.Throws<ArgumentException>(() => p.Generate(Request(Image()) with { MaxSequenceLength = null }));
        Assert.Contains("SDXL image-to-image generates at the image's own size (24x20 floored to a multiple of 2)", e.Message);
    }

    static float[] Run(TextToImagePipeline p, GenerationRequest r) => ResultPixels.Pixels(p.Generate(r));

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    public void TheImageAndTheStrengthShapeTheResult(string kind)
    {
        using var p = PipelineLoader.Load(Folder(kind));
        int progress = 0;
        p.Progress += (_, e) => { if (e.Stage == "denoise") progress++; };
        var a = p.Generate(Request(Image()) with { Strength = 0.6 });
        // 3 steps at strength 0.6 run the last 2 (diffusers' get_timesteps), and the result says so
        Assert.Equal((2, 2), (a.Steps, progress));
        var pa = ResultPixels.Pixels(a);
        var other = Run(p, Request(Image(variant: 1)) with { Strength = 0.6 });
        var textOnly = Run(p, Request(null));
        Assert.True(Numerics.RelativeError(other, pa) > 1e-3, "another image changed nothing");
        Assert.True(Numerics.RelativeError(textOnly, pa) > 1e-3, "the image changed nothing against text-to-image");
        // at strength 1 the first σ is 1: the start is the noise alone, whatever the image
        var full = Run(p, Request(Image()) with { Strength = 1 });
        var fullOther = Run(p, Request(Image(variant: 1)) with { Strength = 1 });
        Assert.Equal(full, fullOther);
        // the default strength is diffusers' 0.6
        Assert.Equal(pa, Run(p, Request(Image())));
    }

    [Fact]
    public void TheRefusalsNameTheOptionInOneLine()
    {
        using var sd3 = PipelineLoader.Load(SD3FluxTestFolders.SD3());
        void Refused(TextToImagePipeline p, GenerationRequest r, string message)
        {
            var e = Assert.Throws<ArgumentException>(() => p.Generate(r));
            Assert.Contains(message, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Refused(sd3, Request(null) with { Strength = 0.5 }, "strength 0.5 needs an input image (--image)");
        Refused(sd3, Request(Image()) with { Strength = 0 }, "strength 0 with 3 steps leaves no denoising step");
        Refused(sd3, Request(Image()) with { SkipGuidanceLayers = [0] }, "StableDiffusion3Img2ImgPipeline has no skip_guidance_layers");
        Refused(sd3, Request(Image()) with { MaxArea = 256 }, "max_area and auto_resize (--max-area, --no-auto-resize) are Flux Kontext's; SD3Pipeline does not take them");
        using var kontext = PipelineLoader.Load(SD3FluxTestFolders.FluxKontext());
        Refused(kontext, Request(Image()) with { Strength = 0.5 }, "strength (--strength) is the image-to-image option of SD3, Flux and SDXL; FluxKontextPipeline does not take it");
    }

    [Theory]
    [InlineData("StableDiffusion3Img2ImgPipeline", "StableDiffusion3Pipeline")]
    [InlineData("FluxImg2ImgPipeline", "FluxPipeline")]
    [InlineData("StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLPipeline")]
    public void AFolderNamingTheImg2ImgClassRunsImageToImageAndNeedsTheImage(string pipelineClass, string textToImageClass)
    {
        var dir = Folder(pipelineClass.StartsWith("Flux", StringComparison.Ordinal) ? "flux" : pipelineClass.Contains("XL") ? "sdxl" : "sd3");
        var request = pipelineClass.Contains("XL") ? Request(Image()) with { Height = null, Width = null, MaxSequenceLength = null, Strength = 0.7 } : Request(Image());
        float[] plain;
        using (var p = PipelineLoader.Load(dir)) plain = Run(p, request);
        var index = Path.Combine(dir, "model_index.json");
        File.WriteAllText(index, File.ReadAllText(index).Replace($"\"{textToImageClass}\"", $"\"{pipelineClass}\""));
        using var img2img = PipelineLoader.Load(dir);
        Assert.Equal(plain, Run(img2img, request));
        var e = Assert.Throws<ArgumentException>(() => img2img.Generate(request with { Image = null }));
        Assert.Contains($"model_index.json names {pipelineClass}, which needs an input image (--image)", e.Message);
    }

    public static TheoryData<string, string> Meshes => new()
    {
        { "sd3", "cfg2" }, { "sd3", "ulysses2" }, { "sd3", "data2" }, { "sd3", "cfg2-ulysses2" },
        { "sd3", "ring2" }, { "sd3", "pipefusion2" }, { "sd3", "cfg2-ring2" },
        { "flux", "ulysses2" }, { "flux", "data2" }, { "flux", "cfg2" }, { "flux", "ring2" },
        { "sdxl", "cfg2" }, { "sdxl", "data2" },
        // --use-parallel-vae: the image encoded in row bands by every group a mesh makes (the replica's ranks, the
        // PipeFusion stages). Exactness at the band edges is ParallelVaeEncoderTests' and FluxKontextPipelineTests'
        // ring2-pvae: these pictures stayed within 1e-6 with the downsampler's band-edge row zeroed
        { "sd3", "cfg2-pvae" }, { "sd3", "pipefusion2-pvae" }, { "sdxl", "cfg2-pvae" }, { "flux", "data2-pvae" },
    };

    static int KeptSteps(GenerationRequest r) => r.NumInferenceSteps!.Value - ImageToImage.SkippedSteps(r.NumInferenceSteps.Value, r.Strength!.Value);

    /// <summary>Every rank encodes the image and draws the same ε; data-parallel replicas draw their rows' noise at
    /// their place in the seed stream (after the one image's ε), so each mesh equals one rank. PipeFusion warms up on
    /// every step (as the other PipeFusion pipeline tests), so each patch attends to fresh K/V and it is exact too.</summary>
    [Theory]
    [MemberData(nameof(Meshes))]
    public void ParallelEqualsOneRank(string kind, string mesh)
    {
        var folder = Folder(kind);
        var request = Request(Image(), prompts: mesh.StartsWith("data2", StringComparison.Ordinal) ? 2 : 1) with { Strength = 0.7 };
        // Flux guides through its embedder; CFG parallelism needs its true CFG's [negative; positive] rows
        if (kind == "flux" && mesh.StartsWith("cfg", StringComparison.Ordinal)) request = request with { NegativePrompt = "blurry", TrueCfgScale = 2f };
        // PipeFusion steps each band with a scheduler of its own (DenoiseJob.NewScheduler): a strength that cuts the
        // schedule (3 steps at 0.6 run the last 2) checks that those skip the same steps; the warm-up covers the steps
        // run (PipeFusionLoop refuses more warm-up steps than the schedule has left)
        if (mesh.StartsWith("pipefusion2", StringComparison.Ordinal)) request = request with { Strength = 0.6 };
        // SDXL generates at the image's size
        if (kind == "sdxl") request = request with { Height = null, Width = null, GuidanceScale = 5f, MaxSequenceLength = null };
        var config = mesh switch
        {
            "cfg2" => new ParallelConfig { WorldSize = 2, UseCfgParallel = true },
            "ulysses2" => new ParallelConfig { WorldSize = 2, UlyssesDegree = 2 },
            "data2" => new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 },
            "cfg2-ulysses2" => new ParallelConfig { WorldSize = 4, UseCfgParallel = true, UlyssesDegree = 2 },
            "ring2" => new ParallelConfig { WorldSize = 2, RingDegree = 2 },
            "cfg2-ring2" => new ParallelConfig { WorldSize = 4, UseCfgParallel = true, RingDegree = 2 },
            "pipefusion2" => new ParallelConfig { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2, WarmupSteps = KeptSteps(request) },
            // --use-parallel-vae: the image is encoded (and the result decoded) in row bands over the ranks
            "cfg2-pvae" => new ParallelConfig { WorldSize = 2, UseCfgParallel = true, UseParallelVae = true },
            "pipefusion2-pvae" => new ParallelConfig { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2, WarmupSteps = KeptSteps(request), UseParallelVae = true },
            "data2-pvae" => new ParallelConfig { WorldSize = 4, DataParallelDegree = 2, UlyssesDegree = 2, UseParallelVae = true },
            _ => throw new ArgumentException(mesh),
        };
        float[] serial;
        using (var p = PipelineLoader.Load(folder)) serial = Run(p, request);
        var parallel = ResultPixels.Pixels(ParallelGeneration.Run(folder, config, request).Result);
        double err = Numerics.RelativeError(parallel, serial);
        TestContext.Current.TestOutputHelper?.WriteLine($"{kind} {mesh}: relative error {err:G3} against one rank");
        Assert.True(err < 1e-5, $"{kind} {mesh}: relative error {err:G3} against one rank");
    }
}
