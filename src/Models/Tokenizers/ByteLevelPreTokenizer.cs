using System.Text.Json;

namespace XDit.Models.Tokenizers;

/// <summary>
/// "ByteLevel" as Qwen2's tokenizer.json uses it, after a Split that already cut the words (use_regex false, no prefix
/// space): each piece becomes its UTF-8 bytes spelled with GPT-2's printable byte characters
/// (<see cref="ClipByteEncoder"/>), so the byte-level BPE that follows sees no whitespace or control characters.
/// GPT-2's own use_regex true (its built-in split) and add_prefix_space true are refused by name.
/// </summary>
public sealed class ByteLevelPreTokenizer : IPreTokenizer
{
    public static ByteLevelPreTokenizer FromJson(JsonElement e, string path)
    {
        // tokenizers' defaults when a key is absent: add_prefix_space true, use_regex true.
        foreach (var key in new[] { "add_prefix_space", "use_regex" })
        {
            bool value = !e.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.False;
            if (value)
                throw new NotSupportedException($"{path}: pre_tokenizer ByteLevel: expected {key} false (a Split before it cuts the words, as Qwen2's does), found {(e.TryGetProperty(key, out var f) ? f.GetRawText() : "none (default true)")}");
        }
        return new ByteLevelPreTokenizer();
    }

    public IEnumerable<string> Split(string text, bool atStart) => [ClipByteEncoder.Encode(text)];
}
