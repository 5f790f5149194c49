using System.Globalization;
using ScottPlot;
using SkiaSharp;
using XDit.Engine.Analysis;

namespace XDit.Cli.Commands;

/// <summary>
/// The PNG plots of an analysis, drawn with ScottPlot: the paper's figure (one panel per attention layer with the K,
/// V and A curves of the mean L1 distance over prompts, log axis, the step axis counting down as in the paper),
/// the same for the text tokens of joint models, and heatmaps of layer × transition per target, of the change and
/// of its variation across prompts (CV). Panels are drawn one by one and laid out in a grid on one canvas.
/// </summary>
public static class RedundancyPlots
{
    const int PanelWidth = 360, PanelHeight = 260, MaxColumns = 6;

    /// <summary>A written figure: its file and, for a grid, how many panels in how many rows and columns.</summary>
    public sealed record Figure(string Path, int Panels, int Rows, int Columns);

    /// <summary>Whether <paramref name="e"/> says the plotting libraries are missing: SkiaSharp's native library (a
    /// build made with XDitPlotNatives=none, see src/Cli/PlotNatives.targets) or the managed ScottPlot, SkiaSharp and
    /// HarfBuzzSharp assemblies (the GPU machine's build, tests/gpu-pack.sh, leaves them out).</summary>
    public static bool IsMissingPlotLibrary(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is DllNotFoundException || x is FileNotFoundException { FileName: { } f } && PlotAssemblies.Any(a => f.StartsWith(a, StringComparison.Ordinal)))
                return true;
        return false;
    }

    static readonly string[] PlotAssemblies = ["ScottPlot", "SkiaSharp", "HarfBuzzSharp"];

    /// <summary>Writes every figure into <paramref name="dir"/>; returns their paths.</summary>
    public static IReadOnlyList<string> WriteAll(RedundancyReport report, string dir) => Figures(report, dir).Select(f => f.Path).ToList();

    public static IReadOnlyList<Figure> Figures(RedundancyReport report, string dir)
    {
        var stats = report.Statistics;
        var metric = report.Metrics.Contains(ChangeMetric.MeanAbs) ? ChangeMetric.MeanAbs : report.Metrics[0];
        var figures = new List<Figure>();
        foreach (var steps in report.Study.StepCounts)
        {
            var series = stats.Series.Where(s => s.Steps == steps && s.Metric == metric).ToList();
            foreach (var half in series.Select(s => s.Key.Half).Distinct())
            {
                string suffix = half == SeriesKey.AllRows ? $"{steps}" : $"{steps}_{half}";
                var mine = series.Where(s => s.Key.Half == half).ToList();
                var grid = Grid(mine, [RecordingTarget.K, RecordingTarget.V, RecordingTarget.A], metric, steps, Path.Combine(dir, $"grid_{suffix}.png"), "image tokens");
                if (grid is not null) figures.Add(grid);
                var text = Grid(mine, [RecordingTarget.TextK, RecordingTarget.TextV, RecordingTarget.TextA], metric, steps, Path.Combine(dir, $"grid_text_{suffix}.png"), "text tokens");
                if (text is not null) figures.Add(text);
                foreach (var target in mine.Select(s => s.Key.Target).Distinct())
                {
                    var rows = mine.Where(s => s.Key.Target == target).ToList();
                    figures.Add(Heatmap(rows, r => r.Mean, log: true, $"{target}: {metric.Name()} (log10), {steps} steps", Path.Combine(dir, $"heatmap_{target}_{suffix}.png")));
                    if (report.Study.Request.Prompts.Count > 1)
                        figures.Add(Heatmap(rows, r => r.Cv, log: false, $"{target}: CV across {report.Study.Request.Prompts.Count} prompts, {steps} steps", Path.Combine(dir, $"heatmap_cv_{target}_{suffix}.png")));
                }
            }
        }
        return figures;
    }

    static readonly Dictionary<string, Color> Colors = new()
    {
        [RecordingTarget.K] = ScottPlot.Colors.MediumPurple, [RecordingTarget.TextK] = ScottPlot.Colors.MediumPurple,
        [RecordingTarget.V] = ScottPlot.Colors.DarkOrange, [RecordingTarget.TextV] = ScottPlot.Colors.DarkOrange,
        [RecordingTarget.A] = ScottPlot.Colors.CornflowerBlue, [RecordingTarget.TextA] = ScottPlot.Colors.CornflowerBlue,
    };

    /// <summary>One panel per layer that has any of <paramref name="targets"/>; null when none does.</summary>
    static Figure? Grid(List<SeriesStatistics> series, string[] targets, ChangeMetric metric, int steps, string path, string what)
    {
        var mine = series.Where(s => targets.Contains(s.Key.Target)).ToList();
        var layers = mine.Select(s => s.Key.Layer).Distinct().ToList();
        if (layers.Count == 0) return null;
        // one y range for every panel, as the paper's figure, over the positive values (log axis)
        var positive = mine.SelectMany(s => s.Mean).Where(v => v > 0 && double.IsFinite(v)).ToList();
        double lo = positive.Count == 0 ? -6 : Math.Log10(positive.Min()), hi = positive.Count == 0 ? 0 : Math.Log10(positive.Max());
        if (hi - lo < 1e-3) { lo -= 0.5; hi += 0.5; }
        double pad = (hi - lo) * 0.05;

        var panels = new List<byte[]>();
        foreach (var layer in layers)
        {
            var plot = new Plot();
            foreach (var target in targets)
            {
                var s = mine.FirstOrDefault(x => x.Key.Layer == layer && x.Key.Target == target);
                if (s is null) continue;
                int t = s.Transitions;
                // the paper's axis: transition k drawn at step T − 1 − k, counting down to 0 at the right
                var xs = Enumerable.Range(0, t).Select(k => (double)(t - 1 - k)).ToArray();
                var ys = s.Mean.Select(v => v > 0 ? Math.Log10(v) : lo - pad).ToArray();
                var line = plot.Add.ScatterLine(xs, ys, Colors[target]);
                line.LineWidth = 2;
                line.LegendText = target.ToUpperInvariant();
            }
            plot.Title(layer, size: 12);
            plot.Axes.SetLimits(steps - 1.5, -0.5, lo - pad, hi + pad); // reversed x: counting down
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = y => Math.Pow(10, y).ToString("G2", CultureInfo.InvariantCulture),
                // whole decades where the range spans several (a log axis), finer ticks where it spans less
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = hi - lo >= 2,
            };
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
            plot.XLabel("step (counting down)", size: 11);
            plot.YLabel($"{metric.Name()} (log)", size: 11);
            plot.ShowLegend(Alignment.LowerRight);
            panels.Add(plot.GetImageBytes(PanelWidth, PanelHeight, ImageFormat.Png));
        }
        int cols = Math.Min(MaxColumns, panels.Count), rows = (panels.Count + cols - 1) / cols;
        Compose(panels, rows, cols, path, $"{what}: {metric.Name()} between consecutive steps, mean over prompts ({steps} steps)");
        return new Figure(path, panels.Count, rows, cols);
    }

    static Figure Heatmap(List<SeriesStatistics> rows, Func<SeriesStatistics, double[]> values, bool log, string title, string path)
    {
        int t = rows[0].Transitions;
        var data = new double[rows.Count, t];
        for (int l = 0; l < rows.Count; l++)
        {
            var v = values(rows[l]);
            for (int k = 0; k < t; k++)
                data[l, k] = log ? (v[k] > 0 ? Math.Log10(v[k]) : double.NaN) : v[k];
        }
        var plot = new Plot();
        var map = plot.Add.Heatmap(data);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(map);
        plot.Title(title, size: 13);
        plot.XLabel("transition k (step k → k+1)");
        plot.YLabel("layer");
        // ScottPlot draws row 0 of the data at the top: row l sits at y = rows − 1 − l
        var ticks = Enumerable.Range(0, rows.Count).Where(l => rows.Count <= 24 || l % (rows.Count / 12) == 0).ToArray();
        plot.Axes.Left.SetTicks(ticks.Select(l => (double)(rows.Count - 1 - l)).ToArray(), ticks.Select(l => l.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.SetLimits(-0.5, t - 0.5, -0.5, rows.Count - 0.5);
        int width = Math.Clamp(120 + 24 * t, 480, 1600), height = Math.Clamp(140 + 22 * rows.Count, 320, 1600);
        plot.SavePng(path, width, height);
        return new Figure(path, 1, 1, 1);
    }

    /// <summary>Lays the panel images out in a grid under a title line and writes one PNG.</summary>
    static void Compose(List<byte[]> panels, int rows, int cols, string path, string title)
    {
        const int titleHeight = 40;
        var info = new SKImageInfo(cols * PanelWidth, titleHeight + rows * PanelHeight);
        using var surface = SKSurface.Create(info) ?? throw new InvalidOperationException($"{path}: SkiaSharp could not make a {info.Width}x{info.Height} canvas");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using (var font = new SKFont(SKTypeface.Default, 20))
        using (var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true })
            canvas.DrawText(title, 10, 28, SKTextAlign.Left, font, paint);
        for (int i = 0; i < panels.Count; i++)
        {
            using var bitmap = SKBitmap.Decode(panels[i]) ?? throw new InvalidOperationException($"{path}: panel {i} did not decode");
            canvas.DrawBitmap(bitmap, i % cols * PanelWidth, titleHeight + i / cols * PanelHeight);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        png.SaveTo(file);
    }
}
