using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace XDit.Engine.Analysis;

/// <summary>The redundancy analysis of one generation: per block and per attention layer, the change of its
/// output at every step transition. <see cref="ToJson"/> writes it all; <see cref="FormatTable"/> a compact view.</summary>
public sealed record RedundancyReport
{
    public required string Model { get; init; }
    public required IReadOnlyList<string> Prompts { get; init; }
    public required int Steps { get; init; }
    public required ulong Seed { get; init; }
    public required IReadOnlyList<ChangeSeries> Blocks { get; init; }
    public required IReadOnlyList<ChangeSeries> AttentionLayers { get; init; }
    public int Transitions => Steps - 1;

    public string ToJson()
    {
        static object Series(ChangeSeries s) => new
        {
            name = s.Name,
            relative_l1 = s.Relative,
            mean_abs_diff = s.MeanAbs,
            mean = s.Mean,
            min = s.Min,
            max = s.Max,
        };
        return JsonSerializer.Serialize(new
        {
            model = Model,
            prompts = Prompts,
            steps = Steps,
            seed = Seed,
            transitions = Transitions,
            metric = "relative_l1[k] = mean|X(step k+1) - X(step k)| / mean|X(step k)|; mean_abs_diff[k] = mean|X(step k+1) - X(step k)|; X over the whole call batch",
            blocks = Blocks.Select(Series),
            attention = new { what = "attention core output, image rows, before the output projection", layers = AttentionLayers.Select(Series) },
        }, Options);
    }

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Per block: mean/min/max relative change, then the change at each transition (at most
    /// <paramref name="maxColumns"/> columns, evenly picked, when there are more steps).</summary>
    public string FormatTable(int maxColumns = 12)
    {
        var ci = CultureInfo.InvariantCulture;
        int n = Transitions;
        var cols = n <= maxColumns ? Enumerable.Range(0, n).ToArray()
            : Enumerable.Range(0, maxColumns).Select(i => (int)Math.Round(i * (n - 1) / (double)(maxColumns - 1))).Distinct().ToArray();
        var sb = new StringBuilder();
        sb.Append(ci, $"{"",-10} {"mean",7} {"min",7} {"max",7} |");
        foreach (var c in cols) sb.Append(ci, $" {$"{c}>{c + 1}",7}");
        sb.AppendLine();
        foreach (var s in Blocks)
        {
            sb.Append(ci, $"{s.Name,-10} {s.Mean,7:F4} {s.Min,7:F4} {s.Max,7:F4} |");
            foreach (var c in cols) sb.Append(ci, $" {s.Relative[c],7:F4}");
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
