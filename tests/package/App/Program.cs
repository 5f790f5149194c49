using XDit.Engine.Pipelines;

public static class Program
{
    // dotnet run -- [picture.png] [model folder]: draws "a red circle on a blue background" with the demo model
    // (the XDit.DemoModel package puts it in models/demo beside the app) or any diffusers folder given.
    public static int Main(string[] args)
    {
        var output = args.Length > 0 ? args[0] : "circle.png";
        var modelDir = args.Length > 1 ? args[1] : DemoModel.Find();
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };

        using var pipeline = PipelineLoader.Load(modelDir, new PipelineOptions { Device = "cpu" });
        pipeline.Progress += (_, p) => Console.WriteLine($"{p.Stage} {p.Step}/{p.TotalSteps}");
        pipeline.Warning += (_, w) => Console.Error.WriteLine($"warning: {w}");
        var result = pipeline.Generate(new GenerationRequest
        {
            Prompts = new[] { "a red circle on a blue background" },
            NumInferenceSteps = 20,
            GuidanceScale = 4.5f,
            Seed = 42,
        }, cancel.Token);
        result.Images[0].SavePng(output);
        Console.WriteLine($"wrote {output} ({result.Width}x{result.Height})");
        return 0;
    }
}
