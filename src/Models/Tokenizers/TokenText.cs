using System.Text;

namespace XDit.Models.Tokenizers;

/// <summary>
/// Readable text of token ids, for messages (the part of a prompt that truncation removed): CLIP's byte-level
/// pieces ("&lt;/w&gt;" ends a word) are turned back into UTF-8, SentencePiece's "▁" into spaces, WordPiece's words
/// joined by spaces with "##" pieces glued to the one before (as BertTokenizer decodes). Special tokens are
/// left out; SentencePiece's byte-fallback pieces become the bytes they stand for. Not an inverse of the tokenizer (CLIP lower-cases and normalises spaces), as diffusers' batch_decode.
/// </summary>
public static class TokenText
{
    static readonly Dictionary<char, byte> ClipBytes = Enumerable.Range(0, 256).ToDictionary(b => ClipByteEncoder.Encode((byte)b), b => (byte)b);

    public static string Decode(IInspectableTokenizer tokenizer, IEnumerable<long> ids, IReadOnlySet<long>? special = null)
    {
        var pieces = ids.Where(id => special is null || !special.Contains(id)).Select(tokenizer.TokenOf).OfType<string>().ToList();
        if (tokenizer is PipelineTokenizer { Model: WordPieceModel })
            return string.Join(" ", pieces).Replace(" ##", "", StringComparison.Ordinal).Trim();
        if (pieces.Any(p => p.EndsWith("</w>", StringComparison.Ordinal)))
        {
            // CLIP: each character stands for one UTF-8 byte.
            var bytes = new List<byte>();
            foreach (var p in pieces)
            {
                var body = p.EndsWith("</w>", StringComparison.Ordinal) ? p[..^4] : p;
                foreach (var ch in body) if (ClipBytes.TryGetValue(ch, out var b)) bytes.Add(b);
                if (body.Length != p.Length) bytes.Add((byte)' ');
            }
            return Encoding.UTF8.GetString(bytes.ToArray()).Trim();
        }
        // SentencePiece: byte-fallback pieces ("<0xE7>") are UTF-8 bytes of the text they stand for.
        var text = new List<byte>();
        foreach (var p in pieces)
        {
            if (p.Length == 6 && p.StartsWith("<0x", StringComparison.Ordinal) && p[5] == '>'
                && byte.TryParse(p.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out var b)) text.Add(b);
            else text.AddRange(Encoding.UTF8.GetBytes(p));
        }
        return Encoding.UTF8.GetString(text.ToArray()).Replace('▁', ' ').Trim();
    }
}
