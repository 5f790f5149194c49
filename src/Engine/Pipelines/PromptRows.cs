namespace XDit.Engine.Pipelines;

/// <summary>The text rows a pipeline encodes: each prompt repeated for its images (p0, p0, p1, p1, … as diffusers
/// repeats embeddings), preceded under classifier-free guidance by as many negative-prompt rows.</summary>
static class PromptRows
{
    public static List<string> Positive(GenerationRequest r)
        => r.Prompts.SelectMany(p => Enumerable.Repeat(p, r.NumImagesPerPrompt)).ToList();

    public static List<string> WithNegative(GenerationRequest r, bool cfg)
        => WithNegative(Positive(r), r.NegativePrompt ?? "", cfg);

    /// <summary>[negative × rows; positive rows] under guidance, else the positive rows alone.</summary>
    public static List<string> WithNegative(List<string> positive, string negative, bool cfg)
        => cfg ? Enumerable.Repeat(negative, positive.Count).Concat(positive).ToList() : positive;

    /// <summary>Per-prompt texts for another encoder (SD3's prompt_2/prompt_3) repeated as <see cref="Positive"/>
    /// repeats the prompts; a missing or empty text falls back to its prompt (diffusers' <c>prompt_2 or prompt</c>).</summary>
    public static List<string> Positive(GenerationRequest r, IReadOnlyList<string>? alternatives)
        => r.Prompts.Select((p, i) => alternatives is { } a && !string.IsNullOrEmpty(a[i]) ? a[i] : p)
            .SelectMany(p => Enumerable.Repeat(p, r.NumImagesPerPrompt)).ToList();
}
