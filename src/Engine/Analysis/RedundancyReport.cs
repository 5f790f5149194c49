using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace XDit.Engine.Analysis;

/// <summary>
/// The files of an analysis: report.json (schema <see cref="SchemaVersion"/>: settings, per step count and series
/// the mean/std/CV over prompts of each metric and the largest change's position, and the Table-2 summary) and
/// raw.csv (long form: one row per step count, prompt, target, layer, half and transition).
/// </summary>
public sealed class RedundancyReport(RedundancyStudy study, RedundancyStatistics stats, IReadOnlyList<ChangeMetric> metrics)
{
    public const int SchemaVersion = 2;
    static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    public RedundancyStudy Study => study;
    public RedundancyStatistics Statistics => stats;
    public IReadOnlyList<ChangeMetric> Metrics => metrics;

    public string ToJson()
    {
        var r = study.Request;
        var doc = new
        {
            schema_version = SchemaVersion,
            model = study.Model,
            prompts = r.Prompts,
            seed = r.Seed,
            given_latents = r.Latents is not null,
            guidance_scale = r.GuidanceScale,
            scheduler = r.Scheduler,
            step_counts = study.StepCounts,
            targets = r.Recording.Targets,
            layers = r.Recording.Layers.ToString().ToLowerInvariant(),
            halves = r.Recording.Halves.ToString().ToLowerInvariant(),
            metrics = metrics.Select(m => m.Name()),
            definitions = new
            {
                d = "X(step k+1) - X(step k) over every element of the recorded tensor (the whole batch, or one guidance half)",
                mean_abs = "mean|d| (DiTCacheAnalysis' L1 distance)",
                var_abs = "unbiased variance (n-1) of |d| over the elements (the tool's vars)",
                relative_l1 = "sum|d| / sum|X(step k)|",
                cosine = "1 - <X(k+1), X(k)> / (|X(k+1)| |X(k)|)",
                std = "population standard deviation over prompts (numpy's np.var default)",
                cv = "std / mean over prompts per transition; 0 where every prompt gave the same value",
                table2 = "mean of cv over layers and transitions, per target (the paper's Table 2)",
                step_axis = "transition k goes from step k to step k+1; countdown = T-1-k is the paper's axis; fraction = k/(T-1)",
                a = study.ProjectedOutputs ? "attention output after the output projection (to_out.0; ea after to_add_out), raw where the layer has none" : "attention output before the output projection",
                k_v = "keys and values as the attention receives them: after q/k norm and RoPE where the model applies them",
            },
            results = study.StepCounts.Select(steps => new
            {
                steps,
                transitions = steps - 1,
                series = stats.Series.Where(s => s.Steps == steps).GroupBy(s => s.Key).Select(g => new
                {
                    target = g.Key.Target,
                    layer = g.Key.Layer,
                    half = g.Key.Half,
                    kind = g.First().Kind,
                    metrics = g.ToDictionary(s => s.Metric.Name(), s => new
                    {
                        mean = s.Mean,
                        std = s.Std,
                        cv = s.Cv,
                        mean_cv = s.MeanCv,
                        argmax = new { transition = s.ArgMax, countdown = s.ArgMaxCountdown, fraction = s.ArgMaxFraction },
                    }),
                }),
            }),
            table2 = stats.Table2.Select(t => new
            {
                steps = t.Steps, target = t.Target, half = t.Half, metric = t.Metric.Name(),
                mean_cv = t.MeanCv, max_cv = t.MaxCv, layers = t.Layers, prompts = t.Prompts,
            }),
        };
        return JsonSerializer.Serialize(doc, Options);
    }

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>raw.csv: one row per (steps, prompt, target, layer, half, transition), a column per metric.</summary>
    public void WriteRawCsv(TextWriter w)
    {
        w.Write("steps,prompt,target,layer,half,kind,transition,step_from,step_to,countdown,fraction");
        foreach (var m in metrics) w.Write("," + m.Name());
        w.WriteLine();
        foreach (var run in study.Runs)
        {
            var kinds = run.Layers.ToDictionary(l => l.Layer, l => l.Kind.ToString().ToLowerInvariant());
            foreach (var s in run.Series)
            {
                string kind = s.Key.Target == RecordingTarget.Block ? "block" : kinds.GetValueOrDefault(s.Key.Layer, "self");
                int t = s.Values.Count;
                for (int k = 0; k < t; k++)
                {
                    w.Write(string.Create(Ci, $"{run.Steps},{run.PromptIndex},{s.Key.Target},{Csv(s.Key.Layer)},{s.Key.Half},{kind},{k},{k},{k + 1},{t - 1 - k},{(t <= 1 ? 0 : k / (double)(t - 1)):R}"));
                    foreach (var m in metrics) w.Write(string.Create(Ci, $",{s.Values[k][m]:R}"));
                    w.WriteLine();
                }
            }
        }
    }

    static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    /// <summary>The Table-2-style summary: per step count, target and half, the mean CV over prompts of each metric.</summary>
    public string FormatTable2()
    {
        var sb = new StringBuilder();
        sb.Append(Ci, $"{"steps",5} {"target",-9} {"half",-6} {"layers",6} {"prompts",7} |");
        foreach (var m in metrics) sb.Append(Ci, $" {"CV " + m.Name(),15}");
        sb.AppendLine();
        foreach (var g in stats.Table2.GroupBy(t => (t.Steps, t.Target, t.Half)))
        {
            var any = g.First();
            sb.Append(Ci, $"{g.Key.Steps,5} {g.Key.Target,-9} {g.Key.Half,-6} {any.Layers,6} {any.Prompts,7} |");
            foreach (var m in metrics)
            {
                var row = g.FirstOrDefault(t => t.Metric == m);
                sb.Append(Ci, $" {(row is null ? "" : Percent(row.MeanCv)),15}");
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }

    static string Percent(double v) => double.IsFinite(v) ? (v * 100).ToString("F1", Ci) + " %" : "n/a";

    /// <summary>Per layer of a target at one step count: mean over prompts of a metric at each transition (at most
    /// <paramref name="maxColumns"/> columns, evenly picked), with the largest change's position.</summary>
    public string FormatLayerTable(int steps, string target, ChangeMetric metric, int maxColumns = 10)
    {
        var rows = stats.Series.Where(s => s.Steps == steps && s.Key.Target == target && s.Metric == metric).ToList();
        if (rows.Count == 0) return "";
        int n = rows[0].Transitions;
        var cols = n <= maxColumns ? Enumerable.Range(0, n).ToArray()
            : Enumerable.Range(0, maxColumns).Select(i => (int)Math.Round(i * (n - 1) / (double)(maxColumns - 1))).Distinct().ToArray();
        var sb = new StringBuilder();
        sb.Append(Ci, $"{target + " " + metric.Name(),-34} {"argmax",7} |");
        foreach (var c in cols) sb.Append(Ci, $" {$"{c}>{c + 1}",9}");
        sb.AppendLine();
        foreach (var s in rows)
        {
            string name = s.Key.Half == SeriesKey.AllRows ? s.Key.Layer : $"{s.Key.Layer} {s.Key.Half}";
            sb.Append(Ci, $"{name,-34} {s.ArgMaxFraction,7:F2} |");
            foreach (var c in cols) sb.Append(Ci, $" {s.Mean[c],9:G3}");
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
