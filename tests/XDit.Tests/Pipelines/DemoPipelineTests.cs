using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>The demo model end to end on the CPU: against the reference images, and by looking at the pictures.</summary>
public class DemoPipelineTests
{
    [Fact]
    public void FromTheReferenceLatentsTheImagesMatchTheReferenceWithin002()
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.DemoModel, "reference.safetensors"));
        var meta = JsonConfig.Load(Path.Combine(TestPaths.DemoModel, "reference.json"));
        var prompts = meta.Root.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToArray();
        using var latents = reference.ReadF32("initial_latents");
        using var expected = reference.ReadF32("images");

        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var result = pipeline.Generate(new GenerationRequest
        {
            Prompts = prompts,
            NumInferenceSteps = meta.GetInt("steps"),
            GuidanceScale = (float)meta.GetDouble("guidance_scale"),
            Latents = latents.ToFloatArray(),
        });

        var want = expected.ToFloatArray();
        Assert.Equal(prompts.Length, result.Images.Count);
        var got = result.Images.SelectMany(i => i.Pixels).ToArray();
        Assert.Equal(want.Length, got.Length);
        double maxAbs = Numerics.MaxAbsError(got, want);
        Assert.True(maxAbs < 0.02, $"max abs error {maxAbs:G4} against the reference images");
    }

    [Fact]
    public void ShapePromptsDrawTheirForegroundInTheCentreAndTheirBackgroundInTheCorners()
    {
        var cases = new (string Prompt, string Fg, string Bg)[]
        {
            ("a red circle on a blue background", "red", "blue"),
            ("a yellow square on a black background", "yellow", "black"),
            ("a white triangle on a green background", "white", "green"),
            ("a purple cross on a white background", "purple", "white"),
        };
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var result = pipeline.Generate(new GenerationRequest { Prompts = cases.Select(c => c.Prompt).ToArray(), Seed = 7 });

        for (int i = 0; i < cases.Length; i++)
        {
            var (prompt, fg, bg) = cases[i];
            var image = result.Images[i];
            var centre = ImageProbe.Mean(image, image.Height / 2 - 3, image.Width / 2 - 3, 6, 6);
            Assert.True(ImageProbe.Closer(centre, fg, bg), $"\"{prompt}\": centre colour {ImageProbe.Format(centre)} is not closer to {fg} than to {bg}");
            foreach (var (y, x) in new[] { (0, 0), (0, image.Width - 4), (image.Height - 4, 0), (image.Height - 4, image.Width - 4) })
            {
                var corner = ImageProbe.Mean(image, y, x, 4, 4);
                Assert.True(ImageProbe.Closer(corner, bg, fg), $"\"{prompt}\": corner ({y},{x}) colour {ImageProbe.Format(corner)} is not closer to {bg} than to {fg}");
            }
        }
    }
}

/// <summary>Colour measurements on generated images.</summary>
public static class ImageProbe
{
    /// <summary>Rough RGB of the demo model's colours (as it draws them, see models/demo-samples.png).</summary>
    static readonly Dictionary<string, (float R, float G, float B)> Palette = new()
    {
        ["red"] = (0.9f, 0.1f, 0.1f),
        ["blue"] = (0.1f, 0.15f, 0.6f),
        ["yellow"] = (0.95f, 0.9f, 0.1f),
        ["black"] = (0f, 0f, 0f),
        ["white"] = (0.95f, 0.95f, 0.95f),
        ["green"] = (0.1f, 0.5f, 0.1f),
        ["purple"] = (0.6f, 0.2f, 0.8f),
    };

    public static (float R, float G, float B) Mean(GeneratedImage image, int y0, int x0, int h, int w)
    {
        float r = 0, g = 0, b = 0;
        for (int y = y0; y < y0 + h; y++)
            for (int x = x0; x < x0 + w; x++) { r += image[0, y, x]; g += image[1, y, x]; b += image[2, y, x]; }
        int n = h * w;
        return (r / n, g / n, b / n);
    }

    public static bool Closer((float R, float G, float B) c, string colour, string other) => Distance(c, Palette[colour]) < Distance(c, Palette[other]);

    static float Distance((float R, float G, float B) a, (float R, float G, float B) b)
        => (a.R - b.R) * (a.R - b.R) + (a.G - b.G) * (a.G - b.G) + (a.B - b.B) * (a.B - b.B);

    public static string Format((float R, float G, float B) c) => $"({c.R:F2}, {c.G:F2}, {c.B:F2})";
}
