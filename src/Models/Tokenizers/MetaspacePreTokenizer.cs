using System.Text;
using System.Text.Json;

namespace XDit.Models.Tokenizers;

/// <summary>
/// "Metaspace" (SentencePiece's view of spaces): spaces become the replacement character (▁), one is prepended
/// to text that does not start with it (prepend_scheme "always"/"first", or the older add_prefix_space), and with
/// split the text is cut before each ▁.
/// </summary>
public sealed class MetaspacePreTokenizer(char replacement, bool prepend, bool split) : IPreTokenizer
{
    public static MetaspacePreTokenizer FromJson(JsonElement e, string path)
    {
        var rep = e.TryGetProperty("replacement", out var r) ? r.GetString()! : "\u2581";
        if (rep.Length != 1) throw new FormatException($"{path}: Metaspace replacement '{rep}' is not one character");
        bool prepend = true;
        if (e.TryGetProperty("prepend_scheme", out var ps) && ps.ValueKind == JsonValueKind.String) prepend = ps.GetString() != "never";
        else if (e.TryGetProperty("add_prefix_space", out var ap) && ap.ValueKind is JsonValueKind.True or JsonValueKind.False) prepend = ap.GetBoolean();
        bool split = !e.TryGetProperty("split", out var sp) || sp.ValueKind != JsonValueKind.False;
        return new MetaspacePreTokenizer(rep[0], prepend, split);
    }

    public IEnumerable<string> Split(string text)
    {
        var s = text.Replace(' ', replacement);
        if (prepend && (s.Length == 0 || s[0] != replacement)) s = replacement + s;
        if (!split) return [s];
        var pieces = new List<string>();
        var cur = new StringBuilder();
        foreach (var ch in s)
        {
            if (ch == replacement && cur.Length > 0) { pieces.Add(cur.ToString()); cur.Clear(); }
            cur.Append(ch);
        }
        if (cur.Length > 0) pieces.Add(cur.ToString());
        return pieces;
    }
}
