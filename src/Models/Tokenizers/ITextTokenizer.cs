namespace XDit.Models.Tokenizers;

/// <summary>Turns prompts into fixed-length token ids and attention masks, as the pipelines' tokenizer calls do
/// (padding to max_length, truncation, the tokenizer's special tokens added).</summary>
public interface ITextTokenizer
{
    /// <summary>The tokenizer's own limit (tokenizer_config.json model_max_length), or null when it names none.</summary>
    int? ModelMaxLength { get; }

    /// <summary>Encodes each text to exactly <paramref name="maxLength"/> tokens: content (truncated so the special
    /// tokens still fit), special tokens, then padding.</summary>
    TokenizedText Encode(IReadOnlyList<string> texts, int maxLength);

    /// <summary>Encodes each text truncated as <see cref="Encode(IReadOnlyList{string}, int)"/> does, padded as
    /// <paramref name="padding"/> says: to <paramref name="maxLength"/> (padding="max_length"), or only to the longest
    /// text of the batch (padding=True, QwenImagePipeline's call: its prompts differ in length and the text encoder sees
    /// no more padding than the batch needs).</summary>
    TokenizedText Encode(IReadOnlyList<string> texts, int maxLength, TokenPadding padding)
    {
        var full = Encode(texts, maxLength);
        return padding switch
        {
            TokenPadding.MaxLength => full,
            // every tokenizer here pads on the right, so cutting the columns no row uses leaves each row as it was
            TokenPadding.Longest => full.TrimmedToLongest(),
            _ => throw new ArgumentOutOfRangeException(nameof(padding), padding, "neither MaxLength nor Longest"),
        };
    }
}
