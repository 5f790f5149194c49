using System.Globalization;
using System.Text;

namespace XDit.Models.Tokenizers.Unicode;

/// <summary>
/// Unicode normalisation forms C, D, KC and KD (UAX #15) from tables compiled into the assembly, because
/// string.Normalize needs ICU and the engine runs with InvariantGlobalization (where it leaves the text as it is).
/// Decomposition (canonical, or compatibility for the K forms; Hangul syllables arithmetically), canonical ordering
/// of combining marks, then for C and KC canonical composition of unblocked pairs that are not excluded.
/// </summary>
public static class UnicodeNormalization
{
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    sealed class Tables
    {
        public readonly Dictionary<int, int[]> Canonical = new(), Compatibility = new();
        public readonly Dictionary<int, byte> CombiningClass = new();
        public readonly Dictionary<long, int> Composition = new();
    }

    static readonly Lazy<Tables> Data = new(Build);

    public static string Normalize(string text, NormalizationForm form)
    {
        // Below U+0300 every character is its own NFC form (combining marks start there); the D forms split
        // Latin-1 letters and the K forms fold characters such as U+00A0 and U+00BD, so they always go the long way.
        if (form == NormalizationForm.FormC && IsBelow(text, 0x300)) return text;
        if (IsBelow(text, 0xA0)) return text;
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        var t = Data.Value;
        var cps = new List<int>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) cp = char.ConvertToUtf32(text[i], text[++i]);
            Decompose(cp, compat, t, cps);
        }
        Reorder(cps, t);
        if (compose) Compose(cps, t);
        var sb = new StringBuilder(cps.Count);
        foreach (var cp in cps)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) sb.Append((char)cp);   // a lone surrogate stays as it was
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    static bool IsBelow(string text, int limit)
    {
        foreach (var c in text) if (c >= limit) return false;
        return true;
    }

    static void Decompose(int cp, bool compat, Tables t, List<int> into)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            int s = cp - SBase;
            into.Add(LBase + s / NCount);
            into.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) into.Add(TBase + s % TCount);
            return;
        }
        if ((compat && t.Compatibility.TryGetValue(cp, out var m)) || t.Canonical.TryGetValue(cp, out m)) into.AddRange(m);
        else into.Add(cp);
    }

    static byte ClassOf(int cp, Tables t) => t.CombiningClass.TryGetValue(cp, out var c) ? c : (byte)0;

    /// <summary>Canonical ordering: a stable sort of each run of non-starters by combining class.</summary>
    static void Reorder(List<int> cps, Tables t)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            byte c = ClassOf(cps[i], t);
            if (c == 0) continue;
            for (int j = i; j > 0; j--)
            {
                byte prev = ClassOf(cps[j - 1], t);
                if (prev == 0 || prev <= c) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    /// <summary>Canonical composition: each character joins the last starter when nothing between them blocks it
    /// (a character between of class 0 or of a class not below its own).</summary>
    static void Compose(List<int> cps, Tables t)
    {
        var result = new List<int>(cps.Count);
        int starter = -1;
        byte lastClass = 0;
        foreach (var cp in cps)
        {
            byte c = ClassOf(cp, t);
            if (starter >= 0)
            {
                bool adjacent = result.Count - 1 == starter;
                bool blocked = !adjacent && (lastClass == 0 || lastClass >= c);
                if (!blocked && TryCompose(result[starter], cp, t, out var composed)) { result[starter] = composed; continue; }
            }
            if (c == 0) starter = result.Count;
            lastClass = c;
            result.Add(cp);
        }
        cps.Clear();
        cps.AddRange(result);
    }

    static bool TryCompose(int a, int b, Tables t, out int composed)
    {
        if (a is >= LBase and < LBase + LCount && b is >= VBase and < VBase + VCount)
        {
            composed = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a is >= SBase and < SBase + SCount && (a - SBase) % TCount == 0 && b is > TBase and < TBase + TCount)
        {
            composed = a + (b - TBase);
            return true;
        }
        return t.Composition.TryGetValue(((long)a << 21) | (uint)b, out composed);
    }

    static Tables Build()
    {
        var t = new Tables();
        var canonical1 = new Dictionary<int, int[]>();
        var compat1 = new Dictionary<int, int[]>();
        foreach (var entry in Entries(UnicodeNormalizationData.Decompositions))
        {
            int sep = entry.IndexOfAny([':', 'K']);
            int cp = Hex(entry[..sep]);
            var mapping = entry[(sep + 1)..].Split(' ').Select(Hex).ToArray();
            (entry[sep] == ':' ? canonical1 : compat1)[cp] = mapping;
        }
        var excluded = new HashSet<int>();
        foreach (var entry in Entries(UnicodeNormalizationData.CompositionExclusions))
        {
            int dash = entry.IndexOf('-');
            int first = Hex(dash < 0 ? entry : entry[..dash]), last = dash < 0 ? first : Hex(entry[(dash + 1)..]);
            for (int cp = first; cp <= last; cp++) excluded.Add(cp);
        }
        foreach (var entry in Entries(UnicodeNormalizationData.CombiningClasses))
        {
            int sep = entry.IndexOf(':');
            t.CombiningClass[Hex(entry[..sep])] = byte.Parse(entry[(sep + 1)..], CultureInfo.InvariantCulture);
        }
        foreach (var (cp, m) in canonical1)
        {
            t.Canonical[cp] = Expand(cp, canonical1, null);
            if (m.Length == 2 && !excluded.Contains(cp)) t.Composition[((long)m[0] << 21) | (uint)m[1]] = cp;
        }
        foreach (var cp in compat1.Keys.Concat(canonical1.Keys).Distinct())
        {
            var full = Expand(cp, canonical1, compat1);
            if (!t.Canonical.TryGetValue(cp, out var canon) || !canon.AsSpan().SequenceEqual(full)) t.Compatibility[cp] = full;
        }
        return t;
    }

    /// <summary>The full (recursive) decomposition of one code point through the single-level mappings.</summary>
    static int[] Expand(int cp, Dictionary<int, int[]> canonical, Dictionary<int, int[]>? compat)
    {
        var result = new List<int>();
        void Walk(int c)
        {
            if (c is >= SBase and < SBase + SCount) { int s = c - SBase; result.Add(LBase + s / NCount); result.Add(VBase + s % NCount / TCount); if (s % TCount != 0) result.Add(TBase + s % TCount); return; }
            if ((compat is not null && compat.TryGetValue(c, out var m)) || canonical.TryGetValue(c, out m)) { foreach (var x in m) Walk(x); }
            else result.Add(c);
        }
        Walk(cp);
        return result.ToArray();
    }

    static IEnumerable<string> Entries(string data) => data.Split(',', StringSplitOptions.RemoveEmptyEntries);

    static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
