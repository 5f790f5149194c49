using System.Globalization;
using System.Text;
using XDit.Kernels.Ledger;

namespace XDit.Engine.Bench;

/// <summary>One line of a ledger: a group of ops (an op kind, a block) and what they add up to.</summary>
public sealed record LedgerRow(string Name, long Calls, long Launches, long BytesRead, long BytesWritten, double Flops, double RooflineMs, double? MeasuredMs)
{
    public static LedgerRow Sum(string name, IEnumerable<LedgerEntry> entries, GpuSpec gpu)
    {
        long calls = 0, launches = 0, read = 0, written = 0;
        double flops = 0, roofline = 0, measured = 0;
        bool timed = true;
        foreach (var e in entries)
        {
            calls++;
            launches += e.Launches;
            read += e.BytesRead;
            written += e.BytesWritten;
            flops += e.Flops;
            roofline += gpu.RooflineMs(e);
            if (e.MeasuredMs is double ms) measured += ms; else timed = false;
        }
        return new LedgerRow(name, calls, launches, read, written, flops, roofline, timed && calls > 0 ? measured : null);
    }
}

/// <summary>
/// The launch ledger of one pass (<see cref="ForwardLedger"/>): rows per op kind and per block, launches per kernel
/// or library call, the total, the elementwise traffic (every op but GEMMs, attention and convolutions, host
/// transfers aside) and the roofline on <see cref="Gpu"/>. <see cref="Format"/> is the text `xdit bench --ledger`
/// prints; the record itself is its --json.
/// </summary>
public sealed record LedgerReport(string Model, string Device, GpuSpec Gpu, IReadOnlyList<LedgerRow> ByKind, IReadOnlyList<LedgerRow> ByBlock,
    IReadOnlyDictionary<string, long> LaunchesByName, LedgerRow Total, long ElementwiseBytes, double? MeasuredForwardMs, long PeakDeviceBytes)
{
    /// <summary>Op kinds that move data between host and device: in the ledger, not in the roofline.</summary>
    public static bool IsHostTransfer(string kind) => kind is "from_host" or "upload" or "to_host";

    /// <summary>Op kinds of matrix math; the rest is elementwise traffic.</summary>
    public static bool IsMatrixMath(string kind) => kind.StartsWith("linear", StringComparison.Ordinal) || kind is "matmul" or "attention" or "conv2d"
        || kind.StartsWith("attention (", StringComparison.Ordinal);   // CUDA's rows name the backend: "attention (cudnn)"

    public static LedgerReport From(LaunchLedger ledger, string model, string device, GpuSpec gpu, double? measuredForwardMs, long peakDeviceBytes)
    {
        var entries = ledger.Entries;
        var byKind = entries.GroupBy(e => e.Kind).Select(g => LedgerRow.Sum(g.Key, g, gpu))
            .OrderByDescending(r => r.RooflineMs).ThenByDescending(r => r.Launches).ToList();
        var byBlock = entries.GroupBy(e => e.Scope).Select(g => LedgerRow.Sum(g.Key, g, gpu)).ToList();   // in order of first op
        long elementwise = entries.Where(e => !IsMatrixMath(e.Kind) && !IsHostTransfer(e.Kind)).Sum(e => e.BytesRead + e.BytesWritten);
        var byName = ledger.LaunchesByName.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
            .ToDictionary(p => p.Key, p => p.Value);
        return new LedgerReport(model, device, gpu, byKind, byBlock, byName, LedgerRow.Sum("total", entries, gpu), elementwise, measuredForwardMs, peakDeviceBytes);
    }

    /// <summary>The rows of <see cref="ByBlock"/> with runs of like blocks ("block 3", "block 4", ... with the same
    /// launches, bytes and FLOPs) folded into one line per block of the run ("block 0-22 (×23)").</summary>
    public IReadOnlyList<LedgerRow> FoldedBlocks()
    {
        var folded = new List<LedgerRow>();
        int i = 0;
        while (i < ByBlock.Count)
        {
            var first = ByBlock[i];
            var (prefix, index) = Split(first.Name);
            int j = i + 1;
            while (j < ByBlock.Count && index >= 0 && Split(ByBlock[j].Name) is var (p, n) && p == prefix && n == index + (j - i)
                   && Alike(ByBlock[j], first)) j++;
            if (j - i == 1) folded.Add(first);
            else
            {
                double? measured = ByBlock.Skip(i).Take(j - i).All(r => r.MeasuredMs is not null) ? ByBlock.Skip(i).Take(j - i).Average(r => r.MeasuredMs!.Value) : null;
                folded.Add(first with { Name = $"{prefix} {index}-{index + j - i - 1} (each of {j - i})", MeasuredMs = measured });
            }
            i = j;
        }
        return folded;
    }

    static (string Prefix, int Index) Split(string name)
    {
        int space = name.LastIndexOf(' ');
        return space > 0 && int.TryParse(name[(space + 1)..], out int n) ? (name[..space], n) : (name, -1);
    }

    static bool Alike(LedgerRow a, LedgerRow b) =>
        a.Launches == b.Launches && a.BytesRead == b.BytesRead && a.BytesWritten == b.BytesWritten && a.Flops == b.Flops && a.Calls == b.Calls;

    public string Format()
    {
        var sb = new StringBuilder();
        bool timed = Total.MeasuredMs is not null;
        sb.AppendLine($"launch ledger of one forward: {Model}");
        sb.AppendLine($"on {Device}; roofline on {Gpu.Name}: {Gpu.BytesPerSecond / 1e12:0.##} TB/s, {Gpu.HalfFlopsPerSecond / 1e12:0} TFLOP/s bf16/f16 dense, {Gpu.F32FlopsPerSecond / 1e12:0} f32");
        void Table(string title, IEnumerable<LedgerRow> rows)
        {
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"{title,-34} {"calls",6} {"launches",8} {"read GB",9} {"written GB",10} {"GFLOP",10} {"roofline ms",11}");
            sb.AppendLine(timed ? $" {"measured ms",11}" : "");
            foreach (var r in rows) Line(r);
        }
        void Line(LedgerRow r)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"{r.Name,-34} {r.Calls,6} {r.Launches,8} {r.BytesRead / 1e9,9:0.000} {r.BytesWritten / 1e9,10:0.000} {r.Flops / 1e9,10:0.0} {r.RooflineMs,11:0.000}");
            sb.AppendLine(r.MeasuredMs is double m ? string.Create(CultureInfo.InvariantCulture, $" {m,11:0.000}") : "");
        }
        Table("by op kind", ByKind);
        Table("by block", FoldedBlocks());
        sb.AppendLine();
        sb.AppendLine("launches by kernel or call: " + string.Join(", ", LaunchesByName.Select(p => $"{p.Key} {p.Value}")));
        sb.AppendLine();
        Line(Total with { Name = "total" });
        sb.Append(CultureInfo.InvariantCulture,
            $"forward: {Total.Launches} launches, {(Total.BytesRead + Total.BytesWritten) / 1e9:0.00} GB moved ({ElementwiseBytes / 1e9:0.00} GB elementwise), ");
        sb.Append(CultureInfo.InvariantCulture, $"{Total.Flops / 1e12:0.00} TFLOP, roofline {Total.RooflineMs:0.00} ms on {Gpu.Name}");
        if (MeasuredForwardMs is double f) sb.Append(CultureInfo.InvariantCulture, $", measured {f:0.00} ms (its ops {Total.MeasuredMs:0.00} ms)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"; device memory peak {PeakDeviceBytes / 1e9:0.0} GB");
        return sb.ToString();
    }
}
