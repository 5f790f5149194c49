using System.Text;
using System.Text.Json;

namespace XDit.Models.Tokenizers;

/// <summary>When Metaspace prepends its replacement character to a piece that does not start with one.</summary>
public enum PrependScheme
{
    /// <summary>To every piece, also to text that follows an added token (T5 with legacy=true).</summary>
    Always,
    /// <summary>Only to the piece that begins the input (T5 with legacy=false: "hello&lt;/s&gt;world" keeps "world").</summary>
    First,
    Never,
}

/// <summary>
/// "Metaspace" (SentencePiece's view of spaces): spaces become the replacement character (▁), one is prepended
/// to a piece that does not start with it as the prepend scheme says, and with split the text is cut before each ▁.
/// </summary>
public sealed class MetaspacePreTokenizer(char replacement, PrependScheme prepend, bool split) : IPreTokenizer
{
    public PrependScheme Prepend => prepend;

    public static MetaspacePreTokenizer FromJson(JsonElement e, string path)
    {
        var rep = e.TryGetProperty("replacement", out var r) ? r.GetString()! : "\u2581";
        if (rep.Length != 1) throw new FormatException($"{path}: Metaspace replacement '{rep}' is not one character");
        var prepend = PrependScheme.Always;
        if (e.TryGetProperty("prepend_scheme", out var ps) && ps.ValueKind == JsonValueKind.String)
            prepend = ps.GetString() switch
            {
                "always" => PrependScheme.Always,
                "first" => PrependScheme.First,
                "never" => PrependScheme.Never,
                var other => throw new FormatException($"{path}: Metaspace prepend_scheme '{other}' is none of always, first, never"),
            };
        else if (e.TryGetProperty("add_prefix_space", out var ap) && ap.ValueKind is JsonValueKind.False) prepend = PrependScheme.Never;
        bool split = !e.TryGetProperty("split", out var sp) || sp.ValueKind != JsonValueKind.False;
        return new MetaspacePreTokenizer(rep[0], prepend, split);
    }

    public IEnumerable<string> Split(string text, bool atStart)
    {
        var s = text.Replace(' ', replacement);
        bool add = prepend == PrependScheme.Always || (prepend == PrependScheme.First && atStart);
        if (add && (s.Length == 0 || s[0] != replacement)) s = replacement + s;
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
