using System.Text.RegularExpressions;
using XDit.Cli;

namespace XDit.Tests.Cli;

/// <summary>
/// tests/gpu-check.sh and tests/gpu-attention-probe.sh run on a lent GPU machine, where a mistyped flag or a renamed
/// test class costs a step of scarce device time (a class filter that names nothing runs 0 tests and passes). So every
/// xdit command line in them must parse with the CLI's own parser here, and every -class / -method they give must name
/// a test class or method of this assembly.
/// </summary>
public partial class GpuCheckScriptTests
{
    public static TheoryData<string> Scripts() => ["gpu-check.sh", "gpu-attention-probe.sh"];

    /// <summary>The script with its line continuations joined.</summary>
    static string Script(string name) => File.ReadAllText(Path.Combine(TestPaths.Root, "tests", name)).Replace("\\\n", " ");

    [Theory]
    [MemberData(nameof(Scripts))]
    public void EveryXditCommandLineParses(string script)
    {
        var root = Program.BuildRoot(out var hidden);
        var commands = XditCall().Matches(Script(script)).Select(m => m.Groups[1].Value).ToList();
        Assert.True(commands.Count >= 3, $"{script}: found only {commands.Count} xdit command lines: is the pattern out of date?");
        foreach (var command in commands)
        {
            var args = hidden.Rewrite(Words(command).ToArray());
            var parsed = root.Parse(args);
            Assert.True(parsed.Errors.Count == 0, $"{script}: `xdit {command.Trim()}` does not parse: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
        }
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void EveryTestFilterNamesATestOfThisAssembly(string script)
    {
        var assembly = typeof(TestPaths).Assembly;
        var filters = TestFilter().Matches(Script(script)).Select(m => (Kind: m.Groups[1].Value, Name: m.Groups[2].Value)).ToList();
        Assert.NotEmpty(filters);
        foreach (var (kind, name) in filters)
        {
            if (kind == "class")
            {
                Assert.True(assembly.GetType(name) is not null, $"{script}: -class {name} names no class of XDit.Tests (it would run 0 tests)");
                continue;
            }
            int dot = name.LastIndexOf('.');
            var type = assembly.GetType(name[..dot]);
            Assert.True(type?.GetMethod(name[(dot + 1)..]) is not null, $"{script}: -method {name} names no test method of XDit.Tests");
        }
    }

    /// <summary>The words of one command line, as bash would split it here: double-quoted parts kept whole, and the
    /// scripts' variables given values that parse like theirs.</summary>
    static IEnumerable<string> Words(string line)
    {
        line = line.Replace("$GPU_KIND", "h100").Replace("\"${shapes[@]}\"", "--attention-shape 4096x16x72")
            .Replace("\"$out/", "\"/tmp/").Replace("\"$f\"", "tests/fixtures/pixart_sigma").Replace("\"$s\"", "4096x16x72")
            .Replace("\"${PROFILE_MODEL:-sd3-medium}\"", "sd3-medium");
        foreach (Match m in Word().Matches(line)) yield return m.Groups[1].Success ? m.Groups[1].Value : m.Value;
    }

    // ${xdit[@]} or ${xdit[*]} and what follows up to the end of the line, an && or a closing quote of bash -c "..."
    [GeneratedRegex("""\$\{xdit\[[@*]\]\}"?((?:[^"\n&]|"[^"\n]*")*)""")]
    private static partial Regex XditCall();

    [GeneratedRegex("""-(class|method) +([A-Za-z0-9_.]+)""")]
    private static partial Regex TestFilter();

    [GeneratedRegex(@"""([^""]*)""|[^\s""]+")]
    private static partial Regex Word();
}
