using System.Text;
using XDit.Models.Tokenizers.Unicode;

namespace XDit.Models.Tokenizers;

/// <summary>
/// tokenizer.json's "BertNormalizer" (BertTokenizerFast), in the Rust library's order: clean_text (NUL, U+FFFD and
/// control characters dropped, whitespace to a space), handle_chinese_chars (a space on both sides of each CJK
/// ideograph), strip_accents (NFD, then category Mn dropped; null means as lowercase), lowercase (per character).
/// Unlike the slow BertTokenizer (<see cref="BertPreTokenizer"/>) nothing composes the text to NFC.
/// </summary>
public sealed class BertNormalizer(bool cleanText, bool handleChineseChars, bool stripAccents, bool lowercase) : ITextNormalizer
{
    public string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        foreach (var r in text.EnumerateRunes())
        {
            if (cleanText && (r.Value == 0 || r.Value == 0xFFFD || BertPreTokenizer.IsControl(r))) continue;
            if (cleanText && BertPreTokenizer.IsWhitespace(r)) sb.Append(' ');
            else if (handleChineseChars && BertPreTokenizer.IsChineseChar(r.Value)) sb.Append(' ').Append(r.ToString()).Append(' ');
            else sb.Append(r.ToString());
        }
        var s = sb.ToString();
        if (stripAccents) s = BertPreTokenizer.StripAccents(s);
        return lowercase ? UnicodeCasing.ToLower(s) : s;
    }
}
