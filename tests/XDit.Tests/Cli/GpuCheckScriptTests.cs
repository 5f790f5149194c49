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

    [Fact]
    public void EveryVerifyDtypeOfGpuCheckParses()
    {
        // gpu-check.sh picks each fixture's --dtype (and --tolerance) in a case whose arms set dt=(...)
        var root = Program.BuildRoot(out var hidden);
        var arms = DtypeArm().Matches(Script("gpu-check.sh")).Select(m => m.Groups[1].Value).ToList();
        Assert.True(arms.Count >= 3, $"gpu-check.sh: found only {arms.Count} dt=(...) arms: is the pattern out of date?");
        foreach (var arm in arms)
        {
            var parsed = root.Parse(hidden.Rewrite(["verify", "tests/fixtures/pixart_sigma", "--device", "cuda", .. Words(arm)]));
            Assert.True(parsed.Errors.Count == 0, $"gpu-check.sh: `xdit verify FIXTURE --device cuda {arm}` does not parse: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
        }
    }

    /// <summary>The summary reads each step's log by name ($logs/NAME.log, or a glob over a family of steps): a name
    /// that no step writes (a renamed step, a typo) leaves its section empty on the GPU machine, unnoticed until the
    /// run is spent. tests/gpu-rehearse.sh finds that too, in minutes; this finds it in every test run.</summary>
    [Theory]
    [MemberData(nameof(Scripts))]
    public void EverySummaryLogIsOneAStepWrites(string script)
    {
        var text = string.Join('\n', Script(script).Split('\n').Where(l => !l.TrimStart().StartsWith('#')));
        // what steps write: NAME.log of `step NAME` ("verify-$(...)" is a family: its literal prefix, open-ended),
        // and the logs written directly (>"$logs/NAME.log")
        var written = StepName().Matches(text).Select(m => (Prefix: m.Groups[1].Value, Family: m.Groups[2].Success))
            .Concat(DirectLog().Matches(text).Select(m => (Prefix: m.Groups[1].Value, Family: false))).ToList();
        var read = LogRead().Matches(text).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.True(read.Count >= 3, $"{script}: found only {read.Count} logs read: is the pattern out of date?");
        foreach (var name in read)
        {
            int open = name.IndexOfAny(['*', '$']);
            bool found = open < 0
                ? written.Any(w => w.Family ? name.StartsWith(w.Prefix, StringComparison.Ordinal) : name == w.Prefix)
                : written.Any(w => w.Prefix.StartsWith(name[..open], StringComparison.Ordinal));
            Assert.True(found, $"{script}: the summary reads $logs/{name}.log, which no step writes (steps: {string.Join(", ", written.Select(w => w.Prefix + (w.Family ? "*" : "")))})");
        }
    }

    /// <summary>The words of one command line, as bash would split it here: double-quoted parts kept whole, and the
    /// scripts' variables given values that parse like theirs.</summary>
    static IEnumerable<string> Words(string line)
    {
        line = line.Replace("$GPU_KIND", "h100").Replace("\"${shapes[@]}\"", "--attention-shape 4096x16x72")
            .Replace("\"$out/", "\"/tmp/").Replace("\"$f\"", "tests/fixtures/pixart_sigma").Replace("\"$s\"", "4096x16x72")
            .Replace("\"${PROFILE_MODEL:-sd3-medium}\"", "sd3-medium")
            .Replace("\"${dt[@]}\"", "--dtype bf16");
        foreach (Match m in Word().Matches(line)) yield return m.Groups[1].Success ? m.Groups[1].Value : m.Value;
    }

    // ${xdit[@]} or ${xdit[*]} and what follows up to the end of the line, an && or a closing quote of bash -c "..."
    [GeneratedRegex("""\$\{xdit\[[@*]\]\}"?((?:[^"\n&]|"[^"\n]*")*)""")]
    private static partial Regex XditCall();

    [GeneratedRegex("""-(class|method) +([A-Za-z0-9_.]+)""")]
    private static partial Regex TestFilter();

    [GeneratedRegex(@"""([^""]*)""|[^\s""]+")]
    private static partial Regex Word();

    // gpu-check.sh's case arms: dt=(--dtype f32)
    [GeneratedRegex(@"\bdt=\(([^)]*)\)")]
    private static partial Regex DtypeArm();

    // `step NAME` or `step "PREFIX$var..."`: the name's literal part, and whether a variable follows it
    [GeneratedRegex("""(?:^|[\s;])step +"?([A-Za-z0-9_.-]+)(\$)?""", RegexOptions.Multiline)]
    private static partial Regex StepName();

    [GeneratedRegex("""> *"\$logs/([A-Za-z0-9_.-]+)\.log""")]
    private static partial Regex DirectLog();

    // "$logs/NAME.log", "$logs/ncu-$s.log", "$logs"/verify-*.log
    [GeneratedRegex("""\$logs"?/([A-Za-z0-9_.*$-]+?)\.log""")]
    private static partial Regex LogRead();
}
