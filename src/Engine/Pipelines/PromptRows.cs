namespace XDit.Engine.Pipelines;

/// <summary>The text rows a pipeline encodes: each prompt repeated for its images (p0, p0, p1, p1, … as diffusers
/// repeats embeddings), preceded under classifier-free guidance by as many negative-prompt rows.</summary>
static class PromptRows
{
    public static List<string> Positive(GenerationRequest r)
        => r.Prompts.SelectMany(p => Enumerable.Repeat(p, r.NumImagesPerPrompt)).ToList();

    public static List<string> WithNegative(GenerationRequest r, bool cfg)
    {
        var positive = Positive(r);
        return cfg ? Enumerable.Repeat(r.NegativePrompt, positive.Count).Concat(positive).ToList() : positive;
    }
}
