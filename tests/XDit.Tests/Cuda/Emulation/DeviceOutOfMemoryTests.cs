namespace XDit.Tests.Cuda.Emulation;

/// <summary>Running out of device memory gives one line that says where and by how much: `xdit generate --device
/// cuda` runs as a process of its own on the CPU stand-ins (native/emu), whose device has only as many bytes as
/// XDIT_EMU_DEVICE_MEMORY says.</summary>
[Collection("Console")]
public class DeviceOutOfMemoryTests
{
    [Fact]
    public void LoadingMoreWeightsThanTheDeviceHoldsNamesTheTensorAndTheNumbers()
    {
        var emu = KernelEmulator.Get();
        var dir = TestPaths.TempDir();
        var env = new Dictionary<string, string>
        {
            ["XDIT_CUDA_LIBRARY_DIR"] = emu.LibraryDir,
            ["XDIT_KERNEL_CACHE"] = Path.Combine(dir, "kernel-cache"),
            // the 32 MiB GEMM workspace and the text encoder fit, the transformer does not
            ["XDIT_EMU_DEVICE_MEMORY"] = (36L << 20).ToString(),
        };
        var output = Path.Combine(dir, "x.png");
        var (code, _, stderr) = CliRunner.XditProcess(TimeSpan.FromSeconds(120), env,
            "generate", "--model", TestPaths.DemoModel, "--device", "cuda", "-p", "a red circle", "-o", output);

        Assert.Equal(1, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("xdit: ", line);
        Assert.Contains(Path.Combine("transformer", "diffusion_pytorch_model.safetensors") + ": tensor 'transformer_blocks.", line);
        Assert.Matches(@"out of memory on cuda:0 \(XDit CPU emulator\): [0-9.]+ KiB requested, [0-9.]+ KiB free of 36\.0 MiB", line);
        Assert.False(File.Exists(output));
    }
}
