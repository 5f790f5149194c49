using XDit.Cli.Commands;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Cli;

/// <summary>What a new user meets first: a missing GPU, a blank prompt, a word the demo does not know, progress in a
/// log file.</summary>
[Collection("Console")]
public class FirstUseMessagesTests
{
    [Fact]
    public void CudaWithoutTheLibrariesIsOneShortLineWithTheWaysForward()
    {
        // an empty library folder stands for a machine with no driver, whether or not this one has a GPU
        var empty = TestPaths.TempDir();
        var (code, _, stderr) = CliRunner.XditProcess(TimeSpan.FromSeconds(60), new Dictionary<string, string> { ["XDIT_CUDA_LIBRARY_DIR"] = empty },
            "generate", "-p", "a red circle", "--device", "cuda", "-o", Path.Combine(empty, "x.png"));
        Assert.Equal(1, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(line.Length < 260, $"{line.Length} characters: {line}");
        Assert.Contains("no NVIDIA driver", line);
        Assert.Contains("--device cpu", line);
        Assert.Contains("xdit info", line);
        Assert.Contains("emulator", line);
    }

    [Theory]
    [InlineData("", "the prompt is empty")]
    [InlineData("   ", "the prompt is blank")]
    public void AnEmptyOrBlankPromptIsRefused(string prompt, string expected)
    {
        var dir = TestPaths.TempDir();
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", prompt, "-o", Path.Combine(dir, "x.png"));
        Assert.Equal(1, code);
        Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Empty(Directory.GetFiles(dir));
        var second = Assert.Throws<ArgumentException>(() => new GenerationRequest { Prompts = ["a red circle", " "] }.Validate());
        Assert.Contains("prompt 2 of 2 is blank", second.Message);
    }

    [Fact]
    public void WordsTheDemoVocabularyLacksAreNamedInAWarningThatListsIt()
    {
        var dir = TestPaths.TempDir();
        var (code, _, stderr) = CliRunner.Xdit("generate", "-p", "a red circel on a blue backdrop", "--steps", "1", "-q", "-o", Path.Combine(dir, "x.png"));
        Assert.Equal(0, code);
        var warning = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("xdit: warning:"));
        Assert.Contains("'circel', 'backdrop'", warning);
        Assert.Contains("18 words: a on background black blue", warning);
        // a prompt of known words gets no warning
        (code, _, stderr) = CliRunner.Xdit("generate", "-p", "A red circle on a blue background", "--steps", "1", "-q", "-o", Path.Combine(dir, "y.png"));
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
    }

    [Fact]
    public void GenerateIntoALogPrintsOneProgressLinePerStage()
    {
        var dir = TestPaths.TempDir();
        var (code, _, stderr) = CliRunner.XditProcess(TimeSpan.FromSeconds(120), "generate", "-p", "a red circle on a blue background", "--steps", "3", "-o", Path.Combine(dir, "x.png"));
        Assert.Equal(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("encode: ", lines[0]);
        Assert.StartsWith("denoise: 3 steps, ", lines[1]);
        Assert.StartsWith("decode: ", lines[2]);
    }

    [Fact]
    public void WithoutATerminalProgressIsOneLinePerStage()
    {
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try
        {
            var reporter = new ProgressReporter(enabled: true, terminal: false);
            reporter.Step(new PipelineProgress("encode", 1, 1, TimeSpan.FromMilliseconds(5)));
            for (int i = 1; i <= 20; i++) reporter.Step(new PipelineProgress("denoise", i, 20, TimeSpan.FromMilliseconds(10)));
            reporter.Step(new PipelineProgress("decode", 1, 1, TimeSpan.FromMilliseconds(7)));
            reporter.Done();
        }
        finally { Console.SetError(old); }
        Assert.Equal(["encode: 5.0 ms", "denoise: 20 steps, 200.0 ms (10.0 ms/step)", "decode: 7.0 ms"],
            err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
    }
}
