namespace XDit.Models.Tokenizers;

/// <summary>
/// Cuts a text at the added (special) tokens written in it, as tokenizers' AddedVocabulary does: at each position
/// the leftmost match wins and, among matches starting there, the longest (so "&lt;extra_id_10&gt;" is not read as
/// "&lt;extra_id_1" + "0&gt;"). Matching is ordinal and case-sensitive; the text between tokens is returned with its
/// offset in the text so that the caller can tell a piece at the very start from one after a token.
/// </summary>
public sealed class AddedTokenSplitter
{
    readonly (string Content, long Id)[] _tokens;   // longest first

    public AddedTokenSplitter(IEnumerable<(string Content, long Id)> tokens)
        => _tokens = tokens.Where(t => t.Content.Length > 0).DistinctBy(t => t.Content).OrderByDescending(t => t.Content.Length).ToArray();

    public bool IsEmpty => _tokens.Length == 0;

    /// <summary>The pieces of <paramref name="text"/> in order: plain text (Id null; never empty) or one token.</summary>
    public IEnumerable<(string Text, int Offset, long? Id)> Split(string text)
    {
        int start = 0;
        while (start < text.Length)
        {
            int best = text.Length;
            (string Content, long Id)? found = null;
            foreach (var t in _tokens)
            {
                int i = text.IndexOf(t.Content, start, StringComparison.Ordinal);
                if (i >= 0 && i < best) { best = i; found = t; }
            }
            if (best > start) yield return (text[start..best], start, null);
            if (found is not { } token) yield break;
            yield return (token.Content, best, token.Id);
            start = best + token.Content.Length;
        }
    }
}
