namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The parallel methods on CudaOps (in-process ranks, one CudaOps each, on the CPU stand-ins of the emulator pass,
/// <see cref="EmulatedCuda"/>): `xdit generate --device cuda` on N ranks draws what one rank draws. Exact methods
/// and PipeFusion with warmup on every step agree to within a step of the 8-bit output; Ring merges partial
/// attentions by log-sum-exp, so its float rounding differs a little. Two steps run every parallel op of a step and
/// the hand-over to the next one; each emulated step costs seconds, so more would only slow the emulator pass. At
/// 16×16 pixels (a 4×4 latent, 16 tokens), which every mesh here still splits (8 tokens a rank, 2 PipeFusion bands,
/// 2 latent rows a rank for the parallel VAE): a step costs a fifth of one at the default 32×32.
/// </summary>
[NeedsCudaDevice]
[Collection("Console")]
public class EmulatedCudaParallelTests
{
    static readonly string[] Common = ["generate", "--device", "cuda", "--dtype", "f32", "-p", "a red circle on a blue background", "--steps", "2", "--height", "16", "--width", "16", "-q"];
    static readonly Lazy<byte[]> OneRank = new(() => Draw(TestPaths.TempDir(), "one"));

    static byte[] Draw(string dir, string name, params string[] mesh)
    {
        var path = Path.Combine(dir, name + ".png");
        var (code, _, stderr) = CliRunner.Xdit([.. Common, "-o", path, .. mesh]);
        Assert.True(code == 0, $"{string.Join(' ', mesh)}: {stderr}");
        return PngPixels.ReadRgb(path, out _, out _);
    }

    [Theory]
    [InlineData("--world-size", "4", "--ulysses-degree", "2", "--use-cfg-parallel")]
    [InlineData("--world-size", "2", "--ring-degree", "2")]
    [InlineData("--world-size", "2", "--pipefusion-parallel-degree", "2", "--num-pipeline-patch", "2", "--warmup-steps", "2")]
    [InlineData("--world-size", "2", "--ulysses-degree", "2", "--use-parallel-vae")]
    public void ParallelRunDrawsWhatOneRankDraws(params string[] mesh)
    {
        EmulatedCuda.Require();
        var one = OneRank.Value;
        var many = Draw(TestPaths.TempDir(), "many", mesh);
        Assert.Equal(one.Length, many.Length);
        int worst = 0;
        for (int i = 0; i < one.Length; i++) worst = Math.Max(worst, Math.Abs(one[i] - many[i]));
        Assert.True(worst <= 1, $"{string.Join(' ', mesh)}: a pixel differs by {worst}/255 from one rank");
    }
}
