namespace XDit.Models.Tokenizers;

/// <summary>How a batch is padded (transformers' padding argument).</summary>
public enum TokenPadding
{
    /// <summary>padding="max_length": every row to the max length.</summary>
    MaxLength,
    /// <summary>padding=True / "longest": every row to the longest row of the batch (never beyond the max length).</summary>
    Longest,
}
