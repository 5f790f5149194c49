namespace XDit.Engine.Pipelines;

/// <summary>
/// HunyuanDiT's resolution binning (diffusers pipeline_hunyuandit): sizes are floored to multiples of 16, and a size
/// that is not one of the ten the model was trained at is replaced by the standard shape of the closest aspect ratio
/// (1:1, 4:3, 3:4, 16:9, 9:16) whose area is closest. The picture stays at that size (no resize back).
/// </summary>
public static class HunyuanDiTShapes
{
    static readonly double[] Ratios = [1.0, 4.0 / 3.0, 3.0 / 4.0, 16.0 / 9.0, 9.0 / 16.0];

    /// <summary>(width, height) per ratio, as diffusers lists them.</summary>
    static readonly (int W, int H)[][] Shapes =
    [
        [(1024, 1024), (1280, 1280)],
        [(1024, 768), (1152, 864), (1280, 960)],
        [(768, 1024), (864, 1152), (960, 1280)],
        [(1280, 768)],
        [(768, 1280)],
    ];

    /// <summary>The supported (height, width) pairs.</summary>
    public static IEnumerable<(int Height, int Width)> Supported => Shapes.SelectMany(s => s).Select(s => (s.H, s.W));

    /// <summary>The size generated for an asked one: floored to 16, then mapped to a standard shape unless it is one.</summary>
    public static (int Height, int Width) Map(int height, int width)
    {
        height = height / 16 * 16;
        width = width / 16 * 16;
        if (Supported.Contains((height, width))) return (height, width);
        double ratio = (double)width / height;
        int best = ArgMin(Ratios.Select(r => Math.Abs(r - ratio)));
        var shapes = Shapes[best];
        long area = (long)width * height;
        var (w, h) = shapes[ArgMin(shapes.Select(s => (double)Math.Abs((long)s.W * s.H - area)))];
        return (h, w);
    }

    /// <summary>numpy argmin: the first index of the smallest value.</summary>
    static int ArgMin(IEnumerable<double> values)
    {
        int best = -1, i = 0;
        double min = double.PositiveInfinity;
        foreach (var v in values) { if (v < min || best < 0) { min = v; best = i; } i++; }
        return best;
    }
}
