using System.Globalization;
using System.Text;
using XDit.Models.Tokenizers.Unicode;

namespace XDit.Models.Tokenizers;

/// <summary>
/// The text side of transformers' slow BertTokenizer (BasicTokenizer, with the per-character lower-casing that
/// PreTrainedTokenizer.tokenize does first when do_lower_case is set), on one piece of text between added tokens:
/// lower-case; drop NUL, U+FFFD and control characters (Unicode category C*, but \t \n \r are whitespace); whitespace
/// (space, \t, \n, \r, category Zs) to a space; a space on both sides of each CJK ideograph; NFC; split on
/// whitespace; for each word not in never_split, strip accents (NFD, then drop category Mn) when asked, and cut each
/// punctuation character (category P*, and all ASCII that is neither letter, digit nor space) into its own word.
/// Character classes come from .NET's Unicode tables, not Python's (unicodedata 14.0 on Python 3.11): they differ only
/// for characters assigned after Unicode 14, which Python's control rule drops as unassigned. With
/// <paramref name="composeNfc"/> false and nothing else asked it is tokenizer.json's "BertPreTokenizer" (the fast
/// tokenizer, whose BertNormalizer has done the rest): whitespace and punctuation splits only.
/// </summary>
public sealed class BertPreTokenizer(bool lowerCase, bool stripAccents, bool splitChineseChars, IReadOnlySet<string> neverSplit,
    bool composeNfc = true) : IPreTokenizer
{
    public IEnumerable<string> Split(string text, bool atStart)
    {
        if (lowerCase) text = UnicodeCasing.ToLower(text);
        var clean = new StringBuilder(text.Length + 8);
        foreach (var r in text.EnumerateRunes())
        {
            int cp = r.Value;
            // A lone surrogate enumerates as U+FFFD and is dropped with it.
            if (cp == 0 || cp == 0xFFFD || IsControl(r)) continue;
            if (IsWhitespace(r)) clean.Append(' ');
            else if (splitChineseChars && IsChineseChar(cp)) clean.Append(' ').Append(r.ToString()).Append(' ');
            else clean.Append(r.ToString());
        }
        var words = new List<string>();
        var cleaned = clean.ToString();
        foreach (var word in SplitOnWhitespace(composeNfc ? UnicodeNormalization.Normalize(cleaned, NormalizationForm.FormC) : cleaned))
        {
            if (neverSplit.Contains(word)) { words.Add(word); continue; }
            var w = stripAccents ? StripAccents(word) : word;
            SplitOnPunctuation(w, words);
        }
        return words;
    }

    /// <summary>Python's str.split(): runs of whitespace cut, none kept.</summary>
    public static IEnumerable<string> SplitOnWhitespace(string text)
    {
        int start = -1, i = 0;
        foreach (var r in text.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(r)) { if (start >= 0) yield return text[start..i]; start = -1; }
            else if (start < 0) start = i;
            i += r.Utf16SequenceLength;
        }
        if (start >= 0) yield return text[start..];
    }

    internal static string StripAccents(string word)
    {
        var sb = new StringBuilder(word.Length);
        foreach (var r in UnicodeNormalization.Normalize(word, NormalizationForm.FormD).EnumerateRunes())
            if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) sb.Append(r.ToString());
        return sb.ToString();
    }

    /// <summary>Each punctuation character a word of its own, the runs between them words; an accent-stripped word
    /// that became empty gives nothing.</summary>
    static void SplitOnPunctuation(string word, List<string> words)
    {
        int start = 0, i = 0;
        foreach (var r in word.EnumerateRunes())
        {
            int n = r.Utf16SequenceLength;
            if (IsPunctuation(r))
            {
                if (i > start) words.Add(word[start..i]);
                words.Add(word.Substring(i, n));
                start = i + n;
            }
            i += n;
        }
        if (i > start) words.Add(word[start..i]);
    }

    internal static bool IsWhitespace(Rune r)
        => r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    internal static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK Unified Ideographs blocks BERT treats as one word each (not Hangul, Hiragana or Katakana).</summary>
    public static bool IsChineseChar(int cp)
        => cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
