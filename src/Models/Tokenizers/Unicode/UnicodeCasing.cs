using System.Text;

namespace XDit.Models.Tokenizers.Unicode;

/// <summary>
/// Lower-casing as the Rust tokenizers' "Lowercase" normaliser does it: each character through Rust's
/// char::to_lowercase, i.e. the full (SpecialCasing) mapping without context. That is .NET's invariant simple mapping
/// except for U+0130 (İ), whose full lower case is "i" + U+0307 COMBINING DOT ABOVE (.NET gives "i" or keeps "İ"); no
/// final-sigma rule (Σ is always σ), no language rules.
/// </summary>
public static class UnicodeCasing
{
    public static string ToLower(string text)
    {
        bool ascii = true;
        foreach (var c in text) if (c >= 0x80) { ascii = false; break; }
        if (ascii) return text.ToLowerInvariant();
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length;)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out int used) != System.Buffers.OperationStatus.Done)
            {
                sb.Append(text[i]);   // a lone surrogate stays as it was
                i++;
                continue;
            }
            if (rune.Value == 0x130) sb.Append("i\u0307");
            else sb.Append(Rune.ToLowerInvariant(rune).ToString());
            i += used;
        }
        return sb.ToString();
    }
}
