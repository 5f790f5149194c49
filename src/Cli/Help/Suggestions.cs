namespace XDit.Cli.Help;

/// <summary>The nearest known spelling to a mistyped one, for "did you mean" hints.</summary>
public static class Suggestions
{
    /// <summary>The candidate closest to <paramref name="typed"/> by edit distance (a swap of two neighbours counts
    /// once), if it is close enough to be what was meant; or the shortest candidate that starts with it, when only
    /// one is that short.</summary>
    public static string? Nearest(string typed, IEnumerable<string> candidates)
    {
        var list = candidates.Distinct().ToList();
        // within two edits and a third of the word (so "-x" does not suggest "-o", while "--stpes" finds "--steps")
        int limit = Math.Min(2, typed.TrimStart('-').Length / 3);
        var best = list.Select(c => (Candidate: c, Distance: Distance(typed, c)))
            .Where(p => p.Distance <= limit).OrderBy(p => p.Distance).ThenBy(p => p.Candidate, StringComparer.Ordinal).FirstOrDefault();
        if (best.Candidate is not null) return best.Candidate;
        // a prefix of one candidate, or of several of which one is the shortest ("--guidance" → --guidance-scale,
        // not --guidance-rescale)
        var prefixed = list.Where(c => typed.Length >= 3 && c.StartsWith(typed, StringComparison.Ordinal)).OrderBy(c => c.Length).ToList();
        return prefixed.Count == 1 || (prefixed.Count > 1 && prefixed[0].Length < prefixed[1].Length) ? prefixed[0] : null;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
