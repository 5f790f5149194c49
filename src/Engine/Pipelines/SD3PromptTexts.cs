namespace XDit.Engine.Pipelines;

/// <summary>The texts SD3's three encoders read, one per row each: CLIP-L the prompt, CLIP-G prompt_2, T5 prompt_3
/// (each falling back to the prompt, as diffusers does).</summary>
public sealed record SD3PromptTexts(IReadOnlyList<string> ClipL, IReadOnlyList<string> ClipG, IReadOnlyList<string> T5)
{
    public int Count => ClipL.Count;

    /// <summary>The same texts for all three encoders.</summary>
    public static SD3PromptTexts Same(IReadOnlyList<string> texts) => new(texts, texts, texts);

    /// <summary>The positive rows of a request (each prompt repeated for its images).</summary>
    public static SD3PromptTexts Positive(GenerationRequest r)
        => new(PromptRows.Positive(r), PromptRows.Positive(r, r.Prompts2), PromptRows.Positive(r, r.Prompts3));

    /// <summary><paramref name="rows"/> negative rows: negative_prompt (or ""), and negative_prompt_2/_3 where given
    /// and not empty, else negative_prompt (diffusers' <c>negative_prompt_2 or negative_prompt</c>).</summary>
    public static SD3PromptTexts Negative(GenerationRequest r, int rows)
    {
        string n1 = r.NegativePrompt ?? "";
        string n2 = string.IsNullOrEmpty(r.NegativePrompt2) ? n1 : r.NegativePrompt2;
        string n3 = string.IsNullOrEmpty(r.NegativePrompt3) ? n1 : r.NegativePrompt3;
        return new(Enumerable.Repeat(n1, rows).ToList(), Enumerable.Repeat(n2, rows).ToList(), Enumerable.Repeat(n3, rows).ToList());
    }

    /// <summary>These rows followed by <paramref name="other"/>'s.</summary>
    public SD3PromptTexts Concat(SD3PromptTexts other)
        => new(ClipL.Concat(other.ClipL).ToList(), ClipG.Concat(other.ClipG).ToList(), T5.Concat(other.T5).ToList());
}
