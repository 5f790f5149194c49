namespace XDit.Models.Tokenizers;

/// <summary>
/// GPT-2's bytes_to_unicode table, which CLIP's BPE shares: every byte maps to a printable character, bytes that
/// already print as themselves (! … ~, ¡ … ¬, ® … ÿ) to themselves and the rest to U+0100 onwards in byte order,
/// so a BPE over characters covers all UTF-8 input without whitespace or control characters in the vocabulary.
/// </summary>
public static class ClipByteEncoder
{
    static readonly char[] Table = Build();

    static char[] Build()
    {
        var table = new char[256];
        var printable = new bool[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) table[b] = printable[b] ? (char)b : (char)(256 + n++);
        return table;
    }

    public static char Encode(byte b) => Table[b];

    /// <summary>The UTF-8 bytes of <paramref name="text"/>, each as its table character.</summary>
    public static string Encode(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = Table[bytes[i]];
        return new string(chars);
    }
}
