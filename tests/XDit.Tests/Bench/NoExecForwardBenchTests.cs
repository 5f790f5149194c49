using XDit.Runtime.Cuda;
using XDit.Tests.Cuda.Emulation;

namespace XDit.Tests.Bench;

/// <summary>
/// `xdit bench --device cuda --what forward` (timed, or its --ledger) on the emulator's CUDA device with the whole
/// process in no-exec mode (XDIT_EMU_NO_EXEC=1), as tests/gpu-rehearse.sh runs the GPU check's real-size benches:
/// nothing reads the weights' values there, and random ones for FLUX.1-dev (24 GB in bf16) would not fit this
/// machine's memory, so the weights must be shapes only. On a GPU the driver has no such mode and they stay random.
/// </summary>
[Collection("Console")]
public class NoExecForwardBenchTests
{
    [Theory]
    [InlineData("--repeats", "1")]
    [InlineData("--ledger", "--json")]
    public void WeightsAreShapesOnlyOnTheNoExecEmulator(params string[] extra)
    {
        var emu = KernelEmulator.Get();
        var env = new Dictionary<string, string>
        {
            [CudaLibraries.LibraryDirVariable] = emu.LibraryDir,
            ["XDIT_KERNEL_CACHE"] = Path.Combine(emu.LibraryDir, "kernel-cache"),
            ["XDIT_EMU_NO_EXEC"] = "1",
        };
        var (code, stdout, stderr) = CliRunner.XditProcess(TimeSpan.FromMinutes(2), env,
            ["bench", "--device", "cuda", "--what", "forward", "--forward-model", "pixart-tiny", .. extra]);
        Assert.True(code == 0, stderr);
        Assert.Contains("pixart-tiny with shape-only bf16 weights", stdout);
    }
}
