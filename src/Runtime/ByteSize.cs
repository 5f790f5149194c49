using System.Globalization;

namespace XDit.Runtime;

/// <summary>Byte counts for people: 1024-based units with one decimal ("1.5 GiB", "512 B").</summary>
public static class ByteSize
{
    /// <summary>A size as people write it: a number of bytes, or with a unit K/M/G/T (1024-based, as Format writes
    /// them; "KiB", "KB", "K" alike), e.g. "24G", "1.5GiB", "512MB". Throws naming <paramref name="what"/>.</summary>
    public static long Parse(string text, string what)
    {
        var s = text.Trim();
        int end = s.Length;
        while (end > 0 && char.IsLetter(s[end - 1])) end--;
        string unit = s[end..].ToUpperInvariant();
        long scale = unit switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            "T" or "TB" or "TIB" => 1L << 40,
            _ => 0,
        };
        if (scale == 0 || !double.TryParse(s[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v > 0) || v * scale >= long.MaxValue)
            throw new ArgumentException($"{what} must be a positive size such as 24G, 1.5GiB or 512M, got '{text}'");
        return (long)Math.Ceiling(v * scale);
    }

    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : v.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[u];
    }
}
