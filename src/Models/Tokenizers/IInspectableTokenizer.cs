namespace XDit.Models.Tokenizers;

/// <summary>A tokenizer that shows its work (for `xdit tokenize` and the reference tests): the ids of one text with
/// its special tokens and without truncation or padding, and the token string of an id.</summary>
public interface IInspectableTokenizer : ITextTokenizer
{
    IReadOnlyList<long> EncodeUntruncated(string text);

    /// <summary>The vocabulary's string for <paramref name="id"/>, or null when it has none.</summary>
    string? TokenOf(long id);
}
