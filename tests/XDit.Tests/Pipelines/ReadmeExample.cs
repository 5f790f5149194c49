// The library example shown in README.md, kept here so that it compiles with every build; a test runs it and
// checks that README.md shows exactly these lines.
// readme-example-begin
using XDit.Engine.Pipelines;

public static class ReadmeExample
{
    public static void Run(string modelDir, string outputPng)
    {
        using var pipeline = PipelineLoader.Load(modelDir, new PipelineOptions { Device = "cpu" });
        pipeline.Progress += (_, p) => Console.WriteLine($"{p.Stage} {p.Step}/{p.TotalSteps}");
        var result = pipeline.Generate(new GenerationRequest
        {
            Prompts = new[] { "a red circle on a blue background" },
            NumInferenceSteps = 20,
            GuidanceScale = 4.5f,
            Seed = 42,
        });
        result.Images[0].SavePng(outputPng);
    }
}
// readme-example-end
