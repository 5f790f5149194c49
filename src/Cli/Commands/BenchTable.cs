using System.Globalization;
using XDit.Engine.Bench;

namespace XDit.Cli.Commands;

/// <summary>`xdit bench` for people: one aligned row per timing, printed as each finishes (a header before the
/// first). `--json` prints the same results as JSON lines for machines instead.</summary>
public sealed class BenchTable(TextWriter output)
{
    bool _headed;

    public void Add(BenchResult r)
    {
        if (!_headed)
        {
            output.WriteLine($"{"bench",-10} {"device",-8} {"size",-44} {"median ms",12} {"throughput",16}");
            _headed = true;
        }
        var throughput = r.Tflops is { } t && t >= 1 ? $"{t:F1} TFLOP/s" : r.Gflops is { } g ? $"{g:F1} GFLOP/s" : "";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Bench,-10} {r.Device,-8} {Size(r.Size),-44} {r.MedianMs,12:F3} {throughput,16}"));
    }

    /// <summary>"m=64 n=64 k=64 f32": each size entry as key=value, the dtype and kernel by their value alone.</summary>
    public static string Size(IReadOnlyDictionary<string, object> size) => string.Join(' ', size.Select(p =>
        p.Key is "dtype" or "kernel" ? Convert.ToString(p.Value, CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{p.Key}={p.Value}")));
}
