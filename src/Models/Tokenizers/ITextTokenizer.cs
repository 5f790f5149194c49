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
}
