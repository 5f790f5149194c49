using System.Globalization;
using System.Text.RegularExpressions;

namespace XDit.Models.Tokenizers;

/// <summary>
/// Regex matches counted in code points, as the Rust tokenizers' Oniguruma regexes see text, where .NET's Regex sees
/// UTF-16 units: a character outside the BMP is two units there, neither of them \p{L}, so Qwen2's split reads "😀y" as
/// "😀", "y" (Rust: one word, the symbol before the letters) and "a𠀀" as two words. Each such character is matched as one
/// BMP stand-in of its class (a letter, a digit, or a symbol) and the match mapped back to the text. Patterns that spell
/// a supplementary character themselves are matched as written.
/// </summary>
public static class CodePointRegex
{
    const char Letter = 'a', Digit = '0', Other = '\uE000';   // 'a' begins no contraction of Qwen2's ('s 't 're 've 'm 'll 'd)

    /// <summary>(index, length) in <paramref name="text"/> of each match of <paramref name="pattern"/>.</summary>
    public static IEnumerable<(int Index, int Length)> Matches(Regex pattern, string text)
    {
        if (!HasSurrogate(text) || HasSurrogate(pattern.ToString()))
            return pattern.Matches(text).Select(m => (m.Index, m.Length));
        var mapped = new char[text.Length];
        var start = new int[text.Length + 1];   // start[i]: where the i-th stand-in's character begins in text
        int n = 0;
        for (int i = 0; i < text.Length; n++)
        {
            start[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                mapped[n] = StandIn(char.ConvertToUtf32(text[i], text[i + 1]));
                i += 2;
            }
            else mapped[n] = text[i++];
        }
        start[n] = text.Length;
        var s = new string(mapped, 0, n);
        return pattern.Matches(s).Select(m => (start[m.Index], start[m.Index + m.Length] - start[m.Index])).ToList();
    }

    static char StandIn(int codePoint) => CharUnicodeInfo.GetUnicodeCategory(codePoint) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Digit,
        _ => Other,   // no supplementary character is whitespace or a line break
    };

    static bool HasSurrogate(string s)
    {
        foreach (var c in s) if (char.IsSurrogate(c)) return true;
        return false;
    }
}
