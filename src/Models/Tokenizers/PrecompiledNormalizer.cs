using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace XDit.Models.Tokenizers;

/// <summary>
/// SentencePiece's precompiled character map ("Precompiled" normalizer, T5's NFKC-like rules): a darts-clone
/// double-array trie over UTF-8 bytes whose values point into a blob of NUL-terminated replacements. Blob layout:
/// u32 trie size in bytes, the trie's u32 units, then the replacement strings. As tokenizers does, each grapheme
/// (when short) is looked up whole first, else each of its characters; the shortest prefix match wins.
/// </summary>
public sealed class PrecompiledNormalizer : ITextNormalizer
{
    readonly uint[] _units;
    readonly byte[] _normalized;

    public PrecompiledNormalizer(byte[] charsMap)
    {
        if (charsMap.Length < 4) throw new FormatException("precompiled_charsmap is shorter than its 4-byte header");
        uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(charsMap);
        if (trieSize % 4 != 0 || trieSize > charsMap.Length - 4) throw new FormatException($"precompiled_charsmap trie size {trieSize} does not fit the {charsMap.Length}-byte map");
        _units = new uint[trieSize / 4];
        for (int i = 0; i < _units.Length; i++) _units[i] = BinaryPrimitives.ReadUInt32LittleEndian(charsMap.AsSpan(4 + 4 * i));
        _normalized = charsMap[(4 + (int)trieSize)..];
    }

    public static PrecompiledNormalizer FromJson(JsonElement e, string path)
    {
        if (!e.TryGetProperty("precompiled_charsmap", out var m) || m.ValueKind != JsonValueKind.String)
            throw new FormatException($"{path}: Precompiled normalizer without precompiled_charsmap");
        try { return new PrecompiledNormalizer(Convert.FromBase64String(m.GetString()!)); }
        catch (FormatException ex) { throw new FormatException($"{path}: precompiled_charsmap: {ex.Message}", ex); }
    }

    public string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        var e = StringInfo.GetTextElementEnumerator(text);
        while (e.MoveNext())
        {
            var grapheme = (string)e.Current;
            if (Encoding.UTF8.GetByteCount(grapheme) < 6 && Transform(grapheme) is { } whole) { sb.Append(whole); continue; }
            for (int i = 0; i < grapheme.Length;)
            {
                int len = char.IsHighSurrogate(grapheme[i]) && i + 1 < grapheme.Length ? 2 : 1;
                var ch = grapheme.Substring(i, len);
                sb.Append(Transform(ch) ?? ch);
                i += len;
            }
        }
        return sb.ToString();
    }

    /// <summary>The replacement of the shortest trie key that prefixes <paramref name="chunk"/>, or null.</summary>
    string? Transform(string chunk)
    {
        var key = Encoding.UTF8.GetBytes(chunk);
        if (_units.Length == 0) return null;
        uint pos = Offset(_units[0]);
        foreach (var b in key)
        {
            pos ^= b;
            if (pos >= _units.Length) return null;
            uint unit = _units[pos];
            if (Label(unit) != b) return null;
            pos ^= Offset(unit);
            if (HasLeaf(unit))
            {
                if (pos >= _units.Length) return null;
                int start = (int)Value(_units[pos]);
                if (start >= _normalized.Length) return null;
                int end = Array.IndexOf(_normalized, (byte)0, start);
                return Encoding.UTF8.GetString(_normalized, start, (end < 0 ? _normalized.Length : end) - start);
            }
        }
        return null;
    }

    // darts-clone unit fields
    static bool HasLeaf(uint u) => ((u >> 8) & 1) == 1;
    static uint Value(uint u) => u & 0x7FFFFFFFu;
    static uint Label(uint u) => u & (0x80000000u | 0xFFu);
    static uint Offset(uint u) => (u >> 10) << (int)((u & (1u << 9)) >> 6);
}
