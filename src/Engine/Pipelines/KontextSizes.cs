namespace XDit.Engine.Pipelines;

/// <summary>
/// The sizes FluxKontextPipeline works at, as diffusers computes them. The output: the asked (or default) size's
/// aspect ratio scaled to max_area pixels, each side rounded (Python's round, half to even) and floored to the size
/// multiple (VAE factor × 2). The reference image: its size floored to that multiple (the image processor's
/// get_default_height_width), with _auto_resize replaced by the preferred Kontext resolution of the closest aspect
/// ratio (ties go to the smaller width, then height, as Python's min over tuples), then floored again.
/// </summary>
public static class KontextSizes
{
    /// <summary>diffusers' default max_area: 1024².</summary>
    public const int DefaultMaxArea = 1024 * 1024;

    /// <summary>PREFERRED_KONTEXT_RESOLUTIONS as (width, height): the resolutions Kontext was trained at.</summary>
    public static IReadOnlyList<(int Width, int Height)> Preferred { get; } =
    [
        (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184), (944, 1104),
        (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752), (1456, 720), (1504, 688),
        (1568, 672),
    ];

    /// <summary>The output size for an asked <paramref name="height"/>×<paramref name="width"/>.</summary>
    public static (int Height, int Width) Output(int height, int width, long maxArea, int multiple)
    {
        if (height < 1 || width < 1) throw new ArgumentException($"height and width must be positive, got {height}x{width}");
        if (maxArea < 1) throw new ArgumentException($"max_area must be positive, got {maxArea}");
        double aspect = (double)width / height;
        long w = (long)Math.Round(Math.Sqrt(maxArea * aspect), MidpointRounding.ToEven);
        long h = (long)Math.Round(Math.Sqrt(maxArea / aspect), MidpointRounding.ToEven);
        w = w / multiple * multiple;
        h = h / multiple * multiple;
        if (w < multiple || h < multiple || w > int.MaxValue || h > int.MaxValue)
            throw new ArgumentException($"max_area {maxArea} at the aspect ratio of {width}x{height} gives {w}x{h}, not a size of at least {multiple} pixels per side");
        return ((int)h, (int)w);
    }

    /// <summary>The size the reference image of <paramref name="height"/>×<paramref name="width"/> pixels is resized
    /// to before the VAE encodes it.</summary>
    public static (int Height, int Width) Reference(int height, int width, bool autoResize, int multiple)
    {
        int h = height - height % multiple, w = width - width % multiple;
        if (h < multiple || w < multiple)
            throw new ArgumentException($"the image is {width}x{height} pixels; Flux Kontext needs at least {multiple} pixels per side (VAE factor × 2)");
        if (autoResize)
        {
            double aspect = (double)w / h;
            (w, h) = Preferred.MinBy(p => (Math.Abs(aspect - (double)p.Width / p.Height), p.Width, p.Height));
        }
        return (h / multiple * multiple, w / multiple * multiple);
    }
}
