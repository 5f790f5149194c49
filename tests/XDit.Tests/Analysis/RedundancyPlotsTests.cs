using SkiaSharp;
using XDit.Cli.Commands;
using XDit.Engine.Analysis;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Analysis;

/// <summary>The PNG figures: written, non-empty, one drawn panel per attention layer in the grid and nothing in
/// the cells left over.</summary>
public class RedundancyPlotsTests
{
    [Fact]
    public void TheGridHasOnePanelPerLayerAndTheHeatmapsAreWritten()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel, new PipelineOptions { Device = "cpu" });
        var request = new AnalysisRequest { Prompts = ["a red circle on a blue background", "a white cross on a red background"], StepCounts = [3] };
        var study = RedundancyAnalysis.Run(pipeline, request, "demo");
        var metrics = ChangeMetrics.All;
        var report = new RedundancyReport(study, RedundancyStatistics.From(study, metrics), metrics);
        var dir = TestPaths.TempDir();
        var figures = RedundancyPlots.Figures(report, dir);

        var grid = Assert.Single(figures, f => Path.GetFileName(f.Path) == "grid_3.png");
        Assert.Equal(study.Runs[0].Layers.Count, grid.Panels);
        Assert.Equal(8, grid.Panels);
        Assert.Equal(2, grid.Rows);
        Assert.Equal(6, grid.Columns);
        using var bitmap = SKBitmap.Decode(grid.Path);
        Assert.NotNull(bitmap);
        int cellW = bitmap.Width / grid.Columns;
        int cellH = (bitmap.Height - 40) / grid.Rows;
        for (int cell = 0; cell < grid.Rows * grid.Columns; cell++)
        {
            int x0 = cell % grid.Columns * cellW, y0 = 40 + cell / grid.Columns * cellH;
            int inked = 0;
            for (int y = y0; y < y0 + cellH; y += 3)
                for (int x = x0; x < x0 + cellW; x += 3)
                    if (bitmap.GetPixel(x, y) != SKColors.White) inked++;
            if (cell < grid.Panels) Assert.True(inked > 100, $"panel {cell} is blank");
            else Assert.True(inked == 0, $"cell {cell} has no layer but holds {inked} drawn pixels");
        }
        foreach (var target in new[] { "k", "v", "a", "block" })
        {
            Assert.Contains(figures, f => Path.GetFileName(f.Path) == $"heatmap_{target}_3.png");
            Assert.Contains(figures, f => Path.GetFileName(f.Path) == $"heatmap_cv_{target}_3.png");
        }
        Assert.All(figures, f => Assert.True(new FileInfo(f.Path).Length > 1000, f.Path));
    }
}
