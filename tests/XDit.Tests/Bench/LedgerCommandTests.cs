using System.Text.Json;
using XDit.Runtime.Cuda;
using XDit.Tests.Cuda.Emulation;

namespace XDit.Tests.Bench;

/// <summary>`xdit bench --what forward --ledger` without a GPU: a process of its own on the emulator's no-exec device
/// (its folder given, as one built elsewhere would be), at PixArt-XL-2's real size with weights of shape only.</summary>
[Collection("Console")]
public class LedgerCommandTests
{
    static (int Code, string Out, string Err) Ledger(params string[] args)
    {
        var emu = KernelEmulator.Get();
        var env = new Dictionary<string, string>
        {
            [CudaLibraries.LibraryDirVariable] = emu.LibraryDir,
            ["XDIT_KERNEL_CACHE"] = Path.Combine(emu.LibraryDir, "kernel-cache"),
        };
        return CliRunner.XditProcess(TimeSpan.FromMinutes(2), env, ["bench", "--what", "forward", "--ledger", .. args]);
    }

    [Fact]
    public void TheJsonLedgerAddsUpPerBlockAndPerKind()
    {
        var (code, stdout, stderr) = Ledger("--forward-model", "pixart", "--gpu", "h200", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Contains("pixart-xl-2-1024 with shape-only bf16 weights", root.GetProperty("model").GetString());
        Assert.Equal("h200", root.GetProperty("gpu").GetProperty("key").GetString());
        var total = root.GetProperty("total");
        long launches = total.GetProperty("launches").GetInt64();
        double roofline = total.GetProperty("roofline_ms").GetDouble();
        long Sum(string table, string field) => root.GetProperty(table).EnumerateArray().Sum(r => r.GetProperty(field).GetInt64());
        Assert.Equal(launches, Sum("by_block", "launches"));
        Assert.Equal(launches, Sum("by_kind", "launches"));
        Assert.Equal(launches, root.GetProperty("launches_by_name").EnumerateObject().Sum(p => p.Value.GetInt64()));
        Assert.Equal(30, root.GetProperty("by_block").GetArrayLength());   // embed, 28 blocks, finish
        // a real-size forward: more than 10 TFLOP and a roofline of milliseconds; over 1 GB of device memory reserved
        Assert.True(total.GetProperty("flops").GetDouble() > 1e13, stdout);
        Assert.InRange(roofline, 1, 100);
        Assert.True(root.GetProperty("peak_device_bytes").GetInt64() > 1L << 30, stdout);
    }

    [Fact]
    public void TheTextLedgerFoldsLikeBlocksAndEndsWithTheRoofline()
    {
        var (code, stdout, stderr) = Ledger("--forward-model", "flux-tiny");
        Assert.True(code == 0, stderr);
        Assert.Contains("double 0 ", stdout);
        Assert.Contains("single 0 ", stdout);
        Assert.Contains("no-exec", stdout);
        Assert.Matches(@"forward: \d+ launches, .* roofline [0-9.]+ ms on H100 SXM", stdout);

        (code, _, stderr) = Ledger("--what", "gemm", "--forward-model", "sd4");
        Assert.NotEqual(0, code);
        Assert.Contains("sd4", stderr);
    }
}
