namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// How `xdit generate --device cuda` behaves when the machine falls short: it runs as a process of its own on the
/// CPU stand-ins for the CUDA libraries (native/emu), in an environment that takes something away. Out of device
/// memory (the stand-in device has only XDIT_EMU_DEVICE_MEMORY bytes) gives one line that says where and by how
/// much; without cuDNN the convolutions run as im2col + GEMM and the picture is the same; with --use-cuda-graph the
/// blocks replay from a graph and the picture is the same too. Those two compare with one plain run (3 steps, f32,
/// cuDNN present, no graph), drawn once for both: each emulated process is seconds of CPU.
/// </summary>
[Collection("Console")]
public class EmulatedCudaProcessTests
{
    static (int Code, string Out, string Err) Generate(string libraryDir, string output, Dictionary<string, string>? extra = null, params string[] more)
    {
        var env = new Dictionary<string, string>
        {
            ["XDIT_CUDA_LIBRARY_DIR"] = libraryDir,
            ["XDIT_KERNEL_CACHE"] = Path.Combine(Path.GetDirectoryName(output)!, "kernel-cache"),
        };
        foreach (var (k, v) in extra ?? []) env[k] = v;
        return CliRunner.XditProcess(TimeSpan.FromSeconds(120), env,
            ["generate", "--model", TestPaths.DemoModel, "--device", "cuda", "-p", "a red circle on a blue background", "-o", output, .. more]);
    }

    [Fact]
    public void LoadingMoreWeightsThanTheDeviceHoldsNamesTheTensorAndTheNumbers()
    {
        var emu = KernelEmulator.Get();
        var output = Path.Combine(TestPaths.TempDir(), "x.png");
        // the 32 MiB GEMM workspace and the text encoder fit, the transformer does not
        var (code, _, stderr) = Generate(emu.LibraryDir, output, new() { ["XDIT_EMU_DEVICE_MEMORY"] = (36L << 20).ToString() });

        Assert.Equal(1, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("xdit: ", line);
        Assert.Contains(Path.Combine("transformer", "diffusion_pytorch_model.safetensors") + ": tensor 'transformer_blocks.", line);
        Assert.Matches(@"out of memory on cuda:0 \(XDit CPU emulator\): [0-9.]+ KiB requested, [0-9.]+ KiB free of 36\.0 MiB", line);
        Assert.False(File.Exists(output));
    }

    /// <summary>The arguments of both comparisons: 3 steps (step 0 eager, step 1 captured, step 2 a pure replay when
    /// graphed) in float32, at 16×16 pixels: the VAE's convolutions and the graph's blocks run all the same, and an
    /// emulated step costs a fifth of one at the default 32×32.</summary>
    static readonly string[] Plain = ["--steps", "3", "--dtype", "f32", "--height", "16", "--width", "16"];

    /// <summary>The plain run's picture: `xdit generate` with every stand-in library, eager; drawn once (the run is
    /// deterministic; the tests only read it).</summary>
    static readonly Lazy<byte[]> PlainPicture = new(() =>
    {
        var emu = KernelEmulator.Get();
        var path = Path.Combine(TestPaths.TempDir(), "plain.png");
        var (code, stdout, stderr) = Generate(emu.LibraryDir, path, null, Plain);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("note:", stdout);
        return PngPixels.ReadRgb(path, out _, out _);
    });

    [Fact]
    public void WithoutCudnnTheConvolutionsRunAsGemmsAndDrawTheSamePicture()
    {
        var emu = KernelEmulator.Get();
        var dir = TestPaths.TempDir();
        // the stand-ins again, all but libcudnn.so.9
        var noCudnn = Path.Combine(dir, "no-cudnn");
        Directory.CreateDirectory(noCudnn);
        foreach (var lib in Directory.GetFiles(emu.LibraryDir, "lib*.so*").Where(f => Path.GetFileName(f) != "libcudnn.so.9"))
            File.CreateSymbolicLink(Path.Combine(noCudnn, Path.GetFileName(lib)), lib);

        string without = Path.Combine(dir, "without.png");
        var (code, stdout, stderr) = Generate(noCudnn, without, null, Plain);
        Assert.True(code == 0, stderr);
        Assert.Matches(@"note: [0-9]+ convolution\(s\) ran as im2col \+ GEMM \(cuDNN is not installed\)", stdout);

        var a = PlainPicture.Value;   // the same run with cuDNN
        var b = PngPixels.ReadRgb(without, out _, out _);
        Assert.Equal(a.Length, b.Length);
        Assert.True(a.Zip(b).All(p => Math.Abs(p.First - p.Second) <= 1), "the two pictures differ by more than 1/255");
    }

    [Fact]
    public void WithCudaGraphsTheStepsAfterTheSecondAreReplaysAndThePictureIsTheSame()
    {
        var emu = KernelEmulator.Get();
        string graphed = Path.Combine(TestPaths.TempDir(), "graphed.png");
        var (code, stdout, stderr) = Generate(emu.LibraryDir, graphed, null, [.. Plain, "--use-cuda-graph"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("note: CUDA graph: 1 capture(s), 2 of 3 steps replayed", stdout);
        Assert.Equal(PlainPicture.Value, PngPixels.ReadRgb(graphed, out _, out _));   // the same run, eager
    }
}
