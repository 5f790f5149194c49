using XDit.Engine.Pipelines;
using XDit.Engine.Serving;

namespace XDit.Tests.Serving;

/// <summary>
/// A fake generator that holds every generation until the test opens its gate (so a test can keep the worker busy
/// and fill the queue without sleeping), records the prompts in the order it ran them, and throws for the prompt
/// "boom" (a failure) and "refuse" (the model refusing the request, as a pipeline refuses another model's option). A cancelled token ends the wait with OperationCanceledException, as a pipeline ends between steps. Its image is a flat colour derived from the seed, so a response can be checked against the request.
/// </summary>
sealed class GatedGenerator(bool open = false) : IImageGenerator
{
    /// <summary>The longest a generation waits for the gate: a bound, so a broken test ends instead of hanging.</summary>
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    readonly ManualResetEventSlim _gate = new(open);
    readonly List<string> _ran = new();

    public string Model => "gated-fake";
    public int SizeMultiple => 8;

    public IReadOnlyList<string> Ran { get { lock (_ran) return _ran.ToList(); } }

    /// <summary>The input image of the last request run (null when it had none): what an edit request delivered.</summary>
    public InputImage? LastImage { get; private set; }

    public void Open() => _gate.Set();

    public GenerationResult Generate(GenerationRequest request, CancellationToken cancel)
    {
        var prompt = request.Prompts[0];
        lock (_ran) _ran.Add(prompt);
        LastImage = request.Image;
        if (!_gate.Wait(Bound, cancel)) throw new TimeoutException("the test never opened the gate");
        if (prompt == "boom") throw new InvalidOperationException("the fake generator exploded");
        if (prompt == "refuse") throw new ArgumentException("prompt_2: SD3 options, which the fake does not take");
        int h = request.Height ?? 16, w = request.Width ?? 16;
        var images = Enumerable.Range(0, request.NumImagesPerPrompt).Select(i => Flat(h, w, (request.Seed + (ulong)i) % 256 / 255f)).ToList();
        var timings = new StageTimings();
        timings.Add("denoise", TimeSpan.FromMilliseconds(1));
        return new GenerationResult(images, timings, request.NumInferenceSteps ?? 1, h, w, request.Seed);
    }

    static GeneratedImage Flat(int h, int w, float v) => new(Enumerable.Repeat(v, 3 * h * w).ToArray(), h, w);

    public void Dispose() => _gate.Set();
}
