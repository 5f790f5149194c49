using System.Globalization;
using System.Text.RegularExpressions;

namespace XDit.Tests.Runtime;

[Collection("Console")]
public class InspectCommandTests
{
    static (int Code, string Out, string Err) Xdit(params string[] args) => CliRunner.Xdit(args);

    static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    static string N(long x) => x.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Checks one component's section (tensor lines in sorted order, each with dtype and shape) against an
    /// independent parse of its weights file, and returns its (tensors, parameters, bytes).</summary>
    static (long Tensors, long Params, long Bytes) CheckComponent(string[] lines, string component, string file)
    {
        var (tensors, _, _) = RawSafetensors.Parse(File.ReadAllBytes(file));
        int head = Array.FindIndex(lines, l => l.StartsWith(component + ": ", StringComparison.Ordinal));
        Assert.True(head >= 0, $"no section for {component}");
        Assert.Contains(file, lines[head]);
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToArray();
        for (int i = 0; i < names.Length; i++)
        {
            var e = tensors[names[i]];
            var shape = "[" + string.Join(", ", e.Shape) + "]";
            Assert.Matches($@"^  {Regex.Escape(names[i])} +{e.DType} +{Regex.Escape(shape)}$", lines[head + 1 + i]);
        }
        long p = tensors.Values.Sum(e => e.Shape.Aggregate(1L, (a, d) => a * d));
        long b = tensors.Values.Sum(e => (long)e.Bytes.Length);
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^{Regex.Escape(component)} +{names.Length} +{Regex.Escape(N(p))} +{Regex.Escape(N(b))}  \("));
        return (names.Length, p, b);
    }

    [Fact]
    public void DemoPipelineListsEveryComponentWithWeights()
    {
        var (code, output, err) = Xdit("inspect", TestPaths.DemoModel, "--tensors");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        var lines = Lines(output);
        Assert.Contains("PixArtAlphaPipeline", lines[0]);
        var demo = TestPaths.DemoModel;
        var parts = new[]
        {
            CheckComponent(lines, "text_encoder", Path.Combine(demo, "text_encoder", "model.safetensors")),
            CheckComponent(lines, "transformer", Path.Combine(demo, "transformer", "diffusion_pytorch_model.safetensors")),
            CheckComponent(lines, "vae", Path.Combine(demo, "vae", "diffusion_pytorch_model.safetensors")),
        };
        // Scheduler and tokenizer hold no weights and are not listed.
        Assert.DoesNotContain(lines, l => l.StartsWith("scheduler", StringComparison.Ordinal) || l.StartsWith("tokenizer", StringComparison.Ordinal));
        var total = $@"^total +{parts.Sum(p => p.Tensors)} +{Regex.Escape(N(parts.Sum(p => p.Params)))} +{Regex.Escape(N(parts.Sum(p => p.Bytes)))}  \(";
        Assert.Contains(lines, l => Regex.IsMatch(l, total));
        // the summary comes first: the table's total before the first tensor section
        Assert.True(Array.FindIndex(lines, l => l.StartsWith("total", StringComparison.Ordinal)) < Array.FindIndex(lines, l => l.StartsWith("text_encoder: ", StringComparison.Ordinal)));

        // without --tensors: the path, the table and nothing else
        (code, output, err) = Xdit("inspect", TestPaths.DemoModel);
        Assert.Equal((0, ""), (code, err));
        lines = Lines(output);
        Assert.Equal(6, lines.Length); // path, header, three components, total
        Assert.Matches(total, lines[^1]);
    }

    [Fact]
    public void SingleFileAndModelFolder()
    {
        var folder = Path.Combine(TestPaths.DemoModel, "transformer");
        var file = Path.Combine(folder, "diffusion_pytorch_model.safetensors");

        var (code, output, err) = Xdit("inspect", file, "--tensors");
        Assert.Equal((0, ""), (code, err));
        var lines = Lines(output);
        CheckComponent(lines, "diffusion_pytorch_model.safetensors", file);
        Assert.DoesNotContain(lines, l => l.StartsWith("total", StringComparison.Ordinal));

        (code, output, err) = Xdit("inspect", folder, "-t");
        Assert.Equal((0, ""), (code, err));
        lines = Lines(output);
        Assert.Contains("PixArtTransformer2DModel", lines[0]);
        CheckComponent(lines, "transformer", file);
    }

    [Fact]
    public void TruncatedWeightsFailWithOneLineNamingTheFile()
    {
        var copy = Path.Combine(TestPaths.TempDir(), "demo");
        foreach (var src in Directory.GetFiles(TestPaths.DemoModel, "*", SearchOption.AllDirectories))
        {
            var dst = Path.Combine(copy, Path.GetRelativePath(TestPaths.DemoModel, src));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(src, dst);
        }
        var vae = Path.Combine(copy, "vae", "diffusion_pytorch_model.safetensors");
        using (var fs = new FileStream(vae, FileMode.Open)) fs.SetLength(fs.Length / 2);

        var (code, output, err) = Xdit("inspect", copy);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        var line = Assert.Single(Lines(err));
        Assert.StartsWith("xdit: ", line);
        Assert.Contains(vae, line);
        Assert.Contains("past the end of the data area", line);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void MissingPathAndFolderWithoutWeightsFail()
    {
        var nowhere = Path.Combine(TestPaths.TempDir(), "nope");
        var (code, _, err) = Xdit("inspect", nowhere);
        Assert.Equal(1, code);
        Assert.Equal($"xdit: {nowhere}: no such file or folder", Assert.Single(Lines(err)));

        var empty = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(empty, "config.json"), "{}");
        (code, _, err) = Xdit("inspect", empty);
        Assert.Equal(1, code);
        Assert.StartsWith($"xdit: {empty}: no weights", Assert.Single(Lines(err)));
    }
}
