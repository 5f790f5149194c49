using System.Text;
using XDit.Engine.Serving;

namespace XDit.Tests.Serving;

/// <summary>The POST /generate body: every field mapped, and each kind of bad body refused naming its field.</summary>
public class ServeRequestTests
{
    static ServeRequest Parse(string json, int multiple = 8, string? outputDir = null) => ServeRequest.Parse(Encoding.UTF8.GetBytes(json), multiple, outputDir: outputDir);

    [Fact]
    public void EveryFieldReachesTheGenerationRequest()
    {
        var r = Parse("""{"prompt":"a cat","negative_prompt":"blur","num_inference_steps":7,"guidance_scale":3.25,"seed":123456789012,"height":48,"width":32,"num_images_per_prompt":2}""");
        var g = r.Generation;
        Assert.Equal(new[] { "a cat" }, g.Prompts);
        Assert.Equal(("blur", 7, 3.25f, 123456789012UL, 48, 32, 2), (g.NegativePrompt, g.NumInferenceSteps!.Value, g.GuidanceScale!.Value, g.Seed, g.Height!.Value, g.Width!.Value, g.NumImagesPerPrompt));
        Assert.Equal(ServeOutput.PngBase64, r.Output);
    }

    [Fact]
    public void ThePipelineOptionsReachTheGenerationRequest()
    {
        var g = Parse("""
            {"prompt":"a cat","prompt_2":"a dog","prompt_3":"a bird","negative_prompt_2":"n2","negative_prompt_3":"n3",
             "clip_skip":2,"skip_guidance_layers":[7,8,9],"skip_layer_guidance_scale":3.5,"skip_layer_guidance_start":0.2,
             "skip_layer_guidance_stop":0.8,"true_cfg_scale":4,"max_sequence_length":512,"use_resolution_binning":false}
            """).Generation;
        Assert.Equal(new[] { "a dog" }, g.Prompts2);
        Assert.Equal(new[] { "a bird" }, g.Prompts3);
        Assert.Equal(("n2", "n3", 2), (g.NegativePrompt2, g.NegativePrompt3, g.ClipSkip!.Value));
        Assert.Equal(new[] { 7, 8, 9 }, g.SkipGuidanceLayers);
        Assert.Equal((3.5f, 0.2, 0.8), (g.SkipLayerGuidanceScale, g.SkipLayerGuidanceStart, g.SkipLayerGuidanceStop));
        Assert.Equal((4f, 512, false), (g.TrueCfgScale!.Value, g.MaxSequenceLength!.Value, g.UseResolutionBinning!.Value));
        // absent: the library's defaults, and no negative prompt (Flux's true CFG needs one given)
        var d = Parse("""{"prompt":"x"}""").Generation;
        Assert.Equal(((string?)null, (int[]?)null, (float?)null, (bool?)null), (d.NegativePrompt, d.SkipGuidanceLayers?.ToArray(), d.TrueCfgScale, d.UseResolutionBinning));
    }

    [Fact]
    public void TheStrengthReachesTheGenerationRequestAndIsCheckedThere()
    {
        Assert.Equal(0.35, Parse("""{"prompt":"x","strength":0.35}""").Generation.Strength);
        Assert.Null(Parse("""{"prompt":"x"}""").Generation.Strength);
        var e = Assert.Throws<ServeRequestException>(() => Parse("""{"prompt":"x","strength":1.2}"""));
        Assert.Contains("strength must lie in [0, 1], got 1.2", e.Message);
        Assert.Throws<ServeRequestException>(() => Parse("""{"prompt":"x","strength":"high"}"""));
    }

    [Fact]
    public void FluxKontextsImageAndSizingReachTheGenerationRequest()
    {
        var image = XDit.Tests.Pipelines.FluxKontextPipelineTests.TestImage();
        int plane = image.Height * image.Width;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                chw[c * plane + i] = image.Rgb[i * 3 + c] / 255f;
        var png = Path.Combine(TestPaths.TempDir(), "ref.png");
        new XDit.Engine.Pipelines.GeneratedImage(chw, image.Height, image.Width).SavePng(png);
        string b64 = Convert.ToBase64String(File.ReadAllBytes(png));
        foreach (var field in new[] { b64, "data:image/png;base64," + b64 })
        {
            var g = Parse($$"""{"prompt":"x","image":"{{field}}","max_area":4096,"auto_resize":false}""").Generation;
            Assert.Equal((image.Height, image.Width), (g.Image!.Height, g.Image.Width));
            Assert.Equal(image.Rgb, g.Image.Rgb);
            Assert.Equal((4096L, false), (g.MaxArea!.Value, g.AutoResize));
        }
        var d = Parse("""{"prompt":"x"}""").Generation;
        Assert.Equal((null, (long?)null, true), (d.Image, d.MaxArea, d.AutoResize));
        var e = Assert.Throws<ServeRequestException>(() => Parse("""{"prompt":"x","image":"not base64!"}"""));
        Assert.Equal("image", e.Field);
    }

    [Theory]
    [InlineData("""{"prompt":"x","skip_guidance_layers":7}""", "skip_guidance_layers", "array")]
    [InlineData("""{"prompt":"x","skip_guidance_layers":[7,-1]}""", "skip_guidance_layers", "non-negative")]
    [InlineData("""{"prompt":"x","use_resolution_binning":"no"}""", "use_resolution_binning", "true or false")]
    [InlineData("""{"prompt":"x","clip_skip":0}""", "clip_skip", "positive")]
    public void ABadPipelineOptionIsRefusedNamingIt(string json, string field, string says)
    {
        var e = Assert.Throws<ServeRequestException>(() => Parse(json));
        Assert.Equal(field, e.Field);
        Assert.Contains(says, e.Message);
    }

    [Fact]
    public void XDitFieldsAreAcceptedCfgIsTheGuidanceAndASavePathMeansPathOutput()
    {
        var dir = TestPaths.TempDir();
        var r = Parse("""{"prompt":"x","cfg":6.5,"save_disk_path":"day1/run"}""", outputDir: dir);
        Assert.Equal(6.5f, r.Generation.GuidanceScale);
        Assert.Equal(ServeOutput.Path, r.Output);
        Assert.Equal(Path.Combine(dir, "day1", "run"), r.SaveDiskPath);
        Assert.True(Directory.Exists(r.SaveDiskPath)); // created under the output folder
        Assert.Equal(dir, Parse("""{"prompt":"x","output_type":"path"}""", outputDir: dir).SaveDiskPath);
        var d = Parse("""{"prompt":"x"}""").Generation;
        Assert.Equal((42UL, 1, (int?)null, (float?)null), (d.Seed, d.NumImagesPerPrompt, d.NumInferenceSteps, d.GuidanceScale));
    }

    [Theory]
    [InlineData("""{"prompt":""}""", "prompt", "empty")]
    [InlineData("""{"prompt":"   "}""", "prompt", "empty")]
    [InlineData("""{"negative_prompt":"x"}""", "prompt", "required")]
    [InlineData("""{"prompt":5}""", "prompt", "string")]
    [InlineData("""{"prompt":"x","num_inference_steps":0}""", "num_inference_steps", "positive")]
    [InlineData("""{"prompt":"x","num_inference_steps":2.5}""", "num_inference_steps", "integer")]
    [InlineData("""{"prompt":"x","height":-16}""", "height", "positive")]
    [InlineData("""{"prompt":"x","width":"64"}""", "width", "integer")]
    [InlineData("""{"prompt":"x","width":20}""", "width", "multiple of 8")]
    [InlineData("""{"prompt":"x","seed":-1}""", "seed", "non-negative")]
    [InlineData("""{"prompt":"x","guidance_scale":"high"}""", "guidance_scale", "number")]
    [InlineData("""{"prompt":"x","guidance_scale":1,"cfg":2}""", "cfg", "not both")]
    [InlineData("""{"prompt":"x","num_images_per_prompt":1000}""", "num_images_per_prompt", "more than the limit 16")]
    [InlineData("""{"prompt":"x","output_type":"pil"}""", "output_type", "png_base64")]
    [InlineData("""{"prompt":"x","output_type":"path"}""", "save_disk_path", "--output-dir")]
    [InlineData("""{"prompt":"x","save_disk_path":"/no/such/xdit/folder"}""", "save_disk_path", "--output-dir")]
    [InlineData("""{"prompt":"x","output_type":"png_base64","save_disk_path":"a"}""", "save_disk_path", "goes with")]
    [InlineData("""{"prompt":"x","steps":4}""", "steps", "unknown field")]
    public void ABadFieldIsNamed(string json, string field, string says)
    {
        var e = Assert.Throws<ServeRequestException>(() => Parse(json));
        Assert.Equal(field, e.Field);
        Assert.Contains(says, e.Message);
    }

    [Theory]
    [InlineData("{bad")]
    [InlineData("")]
    [InlineData("[1,2]")]
    public void AMalformedBodyIsRefusedAsAWhole(string json)
    {
        var e = Assert.Throws<ServeRequestException>(() => Parse(json));
        Assert.Null(e.Field);
    }
}
