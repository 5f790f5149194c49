using System.Text;

namespace XDit.Models.Tokenizers;

/// <summary>
/// Readable text of token ids, for messages (the part of a prompt that truncation removed): CLIP's byte-level
/// pieces ("&lt;/w&gt;" ends a word) are turned back into UTF-8, SentencePiece's "▁" into spaces, WordPiece's words
/// joined by spaces with "##" pieces glued to the one before (as BertTokenizer decodes). Special tokens are
/// left out. Not an inverse of the tokenizer (CLIP lower-cases and normalises spaces), as diffusers' batch_decode.
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
        return string.Concat(pieces).Replace('▁', ' ').Trim();
    }
}
