namespace XDit.Engine.Pipelines;

/// <summary>
/// PixArt's resolution binning (diffusers' ASPECT_RATIO_*_BIN tables and classify_height_width_bin): each table lists
/// the sizes a model of one resolution was trained at, keyed by their height / width ratio rounded to two decimals;
/// a request is generated at the entry whose key is closest to its own ratio (the first such entry on a tie).
/// </summary>
public static class AspectRatioBins
{
    /// <summary>One size of a table: the key it is found by, and the height and width in pixels.</summary>
    public readonly record struct Bin(double Ratio, int Height, int Width);

    /// <summary>The 256-px table (sample_size 32); the 512- and 1024-px tables are the same sizes doubled and
    /// quadrupled.</summary>
    static readonly Bin[] Table256 =
    [
        new(0.25, 128, 512), new(0.28, 128, 464), new(0.32, 144, 448), new(0.33, 144, 432), new(0.35, 144, 416),
        new(0.4, 160, 400), new(0.42, 160, 384), new(0.48, 176, 368), new(0.5, 176, 352), new(0.52, 176, 336),
        new(0.57, 192, 336), new(0.6, 192, 320), new(0.68, 208, 304), new(0.72, 208, 288), new(0.78, 224, 288),
        new(0.82, 224, 272), new(0.88, 240, 272), new(0.94, 240, 256), new(1.0, 256, 256), new(1.07, 256, 240),
        new(1.13, 272, 240), new(1.21, 272, 224), new(1.29, 288, 224), new(1.38, 288, 208), new(1.46, 304, 208),
        new(1.67, 320, 192), new(1.75, 336, 192), new(2.0, 352, 176), new(2.09, 368, 176), new(2.4, 384, 160),
        new(2.5, 400, 160), new(3.0, 432, 144), new(4.0, 512, 128),
    ];

    /// <summary>The 2048-px table (PixArt-Σ, sample_size 256): the 256-px sizes × 8 plus seven extreme ratios.</summary>
    static readonly Bin[] Table2048 =
    [
        new(0.25, 1024, 4096), new(0.26, 1024, 3968), new(0.27, 1024, 3840), new(0.28, 1024, 3712),
        new(0.32, 1152, 3584), new(0.33, 1152, 3456), new(0.35, 1152, 3328), new(0.4, 1280, 3200),
        new(0.42, 1280, 3072), new(0.48, 1408, 2944), new(0.5, 1408, 2816), new(0.52, 1408, 2688),
        new(0.57, 1536, 2688), new(0.6, 1536, 2560), new(0.68, 1664, 2432), new(0.72, 1664, 2304),
        new(0.78, 1792, 2304), new(0.82, 1792, 2176), new(0.88, 1920, 2176), new(0.94, 1920, 2048),
        new(1.0, 2048, 2048), new(1.07, 2048, 1920), new(1.13, 2176, 1920), new(1.21, 2176, 1792),
        new(1.29, 2304, 1792), new(1.38, 2304, 1664), new(1.46, 2432, 1664), new(1.67, 2560, 1536),
        new(1.75, 2688, 1536), new(2.0, 2816, 1408), new(2.09, 2944, 1408), new(2.4, 3072, 1280),
        new(2.5, 3200, 1280), new(2.89, 3328, 1152), new(3.0, 3456, 1152), new(3.11, 3584, 1152),
        new(3.62, 3712, 1024), new(3.75, 3840, 1024), new(3.88, 3968, 1024), new(4.0, 4096, 1024),
    ];

    /// <summary>The table of a resolution (256, 512, 1024, 2048 or 4096 px), or null for any other. SANA's 4096-px
    /// table (sample_size 128) is the 2048-px one with every size doubled, ratios unchanged.</summary>
    public static IReadOnlyList<Bin>? ForResolution(int pixels) => pixels switch
    {
        256 => Table256,
        512 => Scaled(2),
        1024 => Scaled(4),
        2048 => Table2048,
        4096 => Table4096,
        _ => null,
    };

    static readonly Bin[] Table4096 = Table2048.Select(b => b with { Height = b.Height * 2, Width = b.Width * 2 }).ToArray();

    static Bin[] Scaled(int k) => Table256.Select(b => b with { Height = b.Height * k, Width = b.Width * k }).ToArray();

    /// <summary>The table diffusers picks for a PixArt transformer's sample_size (latent pixels): 32 → 256 px, 64 → 512,
    /// 128 → 1024, and for PixArt-Σ only 256 → 2048; null where diffusers has none (it refuses binning there).</summary>
    public static IReadOnlyList<Bin>? ForSampleSize(int sampleSize, bool isSigma) => sampleSize switch
    {
        32 => ForResolution(256),
        64 => ForResolution(512),
        128 => ForResolution(1024),
        256 when isSigma => ForResolution(2048),
        _ => null,
    };

    /// <summary>The entry whose ratio is closest to height / width; the first of equally close ones.</summary>
    public static (int Height, int Width) Classify(int height, int width, IReadOnlyList<Bin> table)
    {
        if (height < 1 || width < 1) throw new ArgumentException($"height and width must be positive, got {height}x{width}");
        double ratio = (double)height / width;
        var best = table[0];
        foreach (var b in table)
            if (Math.Abs(b.Ratio - ratio) < Math.Abs(best.Ratio - ratio)) best = b;
        return (best.Height, best.Width);
    }
}
