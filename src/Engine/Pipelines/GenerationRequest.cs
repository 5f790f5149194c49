namespace XDit.Engine.Pipelines;

/// <summary>
/// One call of a text-to-image pipeline, with diffusers' argument names. Unset values take the pipeline's defaults
/// (PixArt: 20 steps, guidance 4.5; SD3: 28 steps, 7.0; Flux-dev: 28 steps, guidance 3.5; size from the model).
/// </summary>
public sealed record GenerationRequest
{
    public required IReadOnlyList<string> Prompts { get; init; }
    public string NegativePrompt { get; init; } = "";
    public int? NumInferenceSteps { get; init; }
    public float? GuidanceScale { get; init; }
    public int? Height { get; init; }
    public int? Width { get; init; }
    public ulong Seed { get; init; } = 42;
    public int NumImagesPerPrompt { get; init; } = 1;
    public int? MaxSequenceLength { get; init; }
    /// <summary>Initial latents [B, C, h, w] (already scaled by the scheduler's init sigma) instead of seeded noise.</summary>
    public float[]? Latents { get; init; }

    /// <summary>Index of this request's first image in a larger batch split across data-parallel ranks, so each
    /// rank draws the same initial noise a single rank would have drawn for those images.</summary>
    public int FirstRow { get; init; }

    public static GenerationRequest For(string prompt) => new() { Prompts = new[] { prompt } };

    /// <summary>Checks what can be checked without a model; the pipeline checks sizes against the model.</summary>
    public void Validate()
    {
        if (Prompts.Count == 0) throw new ArgumentException("at least one prompt is needed");
        for (int i = 0; i < Prompts.Count; i++)
            if (string.IsNullOrWhiteSpace(Prompts[i]))
                throw new ArgumentException((Prompts.Count == 1 ? "the prompt" : $"prompt {i + 1} of {Prompts.Count}")
                    + $" is {(Prompts[i] is { Length: > 0 } ? "blank" : "empty")}: say what to draw, e.g. \"a red circle on a blue background\"");
        if (NumInferenceSteps is < 1) throw new ArgumentException($"steps must be at least 1, got {NumInferenceSteps}");
        if (GuidanceScale is { } g && !float.IsFinite(g)) throw new ArgumentException($"guidance scale must be a finite number, got {g}");
        if (NumImagesPerPrompt < 1) throw new ArgumentException($"images per prompt must be at least 1, got {NumImagesPerPrompt}");
        if (Height is < 1 || Width is < 1) throw new ArgumentException($"height and width must be positive, got {Height}x{Width}");
        if (MaxSequenceLength is < 1) throw new ArgumentException($"max sequence length must be at least 1, got {MaxSequenceLength}");
    }
}
