using System.Reflection;
using System.Text.RegularExpressions;
using XDit.Kernels.Cuda;
using XDit.Runtime;

namespace XDit.Tests.Kernels;

/// <summary>
/// The C# entries of the kernels (<see cref="CudaKernels"/>) against the sources, with no GPU: every
/// <c>extern "C" __global__</c> of native/kernels (the macro-made tensor-core ones included) has exactly one entry
/// with its module and parameters, is registered with the emulator (XDIT_EMU_KERNEL in native/emu/*.emu.cpp) and is
/// launched from C#; and a launch with the wrong arguments is refused before the driver sees it.
/// </summary>
public partial class KernelEntryTests
{
    /// <summary>A kernel as its source declares it: module (the .cu that defines or instantiates it), name, parameters.</summary>
    sealed record SourceKernel(string Module, string Name, KernelParam[] Parameters);

    static string KernelsDir => Path.Combine(TestPaths.Root, "native", "kernels");

    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(?<name>\w+(?:\s*##\s*\w+)*)\s*\((?<params>[^)]*)\)")]
    private static partial Regex KernelDeclaration();

    [GeneratedRegex(@"^[ \t]*#[ \t]*define[ \t]+(?<name>\w+)\((?<param>\w+)\)(?<body>(?:[^\n]*\\\r?\n)*[^\n]*)", RegexOptions.Multiline)]
    private static partial Regex MacroDefinition();

    [GeneratedRegex(@"XDIT_EMU_KERNEL\((?<name>\w+)\)")]
    private static partial Regex EmulatorRegistration();

    /// <summary>Every kernel of native/kernels/*.cu and *.cuh, with the kernels a one-parameter macro declares
    /// expanded where a .cu invokes the macro (attention_tc.cuh's TC_KERNELS(N) in attention_tc_dN.cu).</summary>
    static List<SourceKernel> ParseSources()
    {
        var files = Directory.GetFiles(KernelsDir, "*.cu").Concat(Directory.GetFiles(KernelsDir, "*.cuh")).OrderBy(f => f, StringComparer.Ordinal).ToArray();
        var macros = new Dictionary<string, (string Param, string Body)>();
        var texts = new Dictionary<string, string>();
        foreach (var f in files)
        {
            var text = File.ReadAllText(f);
            foreach (Match m in MacroDefinition().Matches(text))
                if (m.Groups["body"].Value.Contains("__global__"))
                    macros[m.Groups["name"].Value] = (m.Groups["param"].Value, m.Groups["body"].Value.Replace("\\\n", "\n"));
            // the macros' own declarations (names with ##) are read only where the macro is invoked
            texts[f] = MacroDefinition().Replace(text, m => m.Groups["body"].Value.Contains("__global__") ? "" : m.Value);
        }
        var kernels = new List<SourceKernel>();
        foreach (var (file, text) in texts)
        {
            string module = Path.GetFileNameWithoutExtension(file);
            bool isModule = file.EndsWith(".cu", StringComparison.Ordinal);
            foreach (Match m in KernelDeclaration().Matches(text))
            {
                Assert.True(isModule, $"{Path.GetFileName(file)} declares kernel {m.Groups["name"].Value} outside a macro: a header's kernel belongs to no module");
                kernels.Add(Parse(module, m.Groups["name"].Value, m.Groups["params"].Value));
            }
            if (!isModule) continue;
            foreach (var (macro, (param, body)) in macros)
                foreach (Match call in new Regex($@"^[ \t]*{macro}\((?<arg>\w+)\)[ \t]*;?[ \t]*$", RegexOptions.Multiline).Matches(text))
                {
                    var expanded = Regex.Replace(body, $@"\b{param}\b", call.Groups["arg"].Value);
                    expanded = Regex.Replace(expanded, @"\s*##\s*", "");
                    foreach (Match m in KernelDeclaration().Matches(expanded))
                        kernels.Add(Parse(module, m.Groups["name"].Value, m.Groups["params"].Value));
                }
        }
        return kernels;
    }

    static SourceKernel Parse(string module, string name, string parameters)
    {
        var list = new List<KernelParam>();
        foreach (var raw in parameters.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (raw == "void") continue;
            // drop the parameter's name and the qualifiers: what is left is the type
            var words = Regex.Replace(raw, @"\b(const|volatile|__restrict__|__restrict)\b", " ").Replace("*", " * ")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            words.RemoveAt(words.Count - 1);
            string type = string.Join(" ", words);
            list.Add(type switch
            {
                _ when type.Contains('*') => KernelParam.Pointer,
                "int" or "unsigned" or "unsigned int" => KernelParam.I32,
                "i64" or "long long" or "unsigned long long" => KernelParam.I64,
                "float" => KernelParam.F32,
                "Layout" => KernelParam.Struct(System.Runtime.CompilerServices.Unsafe.SizeOf<KernelLayout>()),
                "AttnArgs" => KernelParam.Struct(System.Runtime.CompilerServices.Unsafe.SizeOf<AttentionArgs>()),
                _ => throw new Xunit.Sdk.XunitException($"kernel {module}/{name}: parameter '{raw}' has a type ({type}) this test does not know; add it here and to KernelParam"),
            });
        }
        return new SourceKernel(module, name, list.ToArray());
    }

    [Fact]
    public void TheParserFindsTheMacroMadeTensorCoreKernels()
    {
        var names = ParseSources().Select(k => k.Name).ToHashSet();
        foreach (var dp in new[] { 32, 64, 80, 96, 128 })
            foreach (var t in new[] { "bf16", "f16" })
                Assert.Contains($"flash_attention_tc_{t}_d{dp}", names);
        Assert.Contains("layer_norm", names);
        Assert.Contains("flash_attention", names);
    }

    [Fact]
    public void EveryKernelHasExactlyOneEntryWithItsModuleAndParameters()
    {
        var kernels = ParseSources();
        var problems = new List<string>();
        foreach (var g in kernels.GroupBy(k => k.Name).Where(g => g.Count() > 1))
            problems.Add($"kernel {g.Key} is declared {g.Count()} times ({string.Join(", ", g.Select(k => k.Module))})");
        foreach (var k in kernels)
        {
            var entries = CudaKernels.All.Where(e => e.Name == k.Name).ToArray();
            string source = $"{k.Module}/{k.Name}({string.Join(", ", k.Parameters)})";
            if (entries.Length != 1) { problems.Add($"kernel {source} has {entries.Length} entries in CudaKernels, not 1"); continue; }
            var e = entries[0];
            if (e.Module != k.Module) problems.Add($"kernel {k.Name}: the source's module is {k.Module}, the entry says {e.Module}");
            if (!e.Parameters.SequenceEqual(k.Parameters)) problems.Add($"kernel {k.Name}: the source takes {source}, the entry says {e}");
        }
        foreach (var e in CudaKernels.All)
            if (!kernels.Any(k => k.Name == e.Name)) problems.Add($"entry {e} names no extern \"C\" __global__ kernel of native/kernels");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void EveryKernelIsRegisteredWithTheEmulator()
    {
        var registered = Directory.GetFiles(Path.Combine(TestPaths.Root, "native", "emu"), "*.emu.cpp")
            .SelectMany(f => EmulatorRegistration().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value)).ToHashSet();
        var missing = ParseSources().Where(k => !registered.Contains(k.Name)).Select(k => $"kernel {k.Module}/{k.Name} is not registered with the emulator (XDIT_EMU_KERNEL in native/emu/{k.Module}.emu.cpp)").ToList();
        Assert.True(missing.Count == 0, string.Join("\n", missing));
    }

    [Fact]
    public void EveryEntryIsLaunchedFromCSharp()
    {
        var launchers = Directory.GetFiles(Path.Combine(TestPaths.Root, "src", "Kernels", "Cuda"), "*.cs")
            .Where(f => Path.GetFileName(f) != "CudaKernels.cs").Select(File.ReadAllText).ToArray();
        bool Referenced(string member) => launchers.Any(t => Regex.IsMatch(t, $@"\bCudaKernels\.{member}\b"));
        var launched = new HashSet<KernelEntry>(ReferenceEqualityComparer.Instance);
        foreach (var f in typeof(CudaKernels).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.FieldType == typeof(KernelEntry)))
            if (Referenced(f.Name)) launched.Add((KernelEntry)f.GetValue(null)!);
        // the attention kernels are picked by AttentionLaunch.Plan from the dtype and head dim
        foreach (var dt in new[] { DType.F32, DType.BF16, DType.F16 })
            foreach (var d in new[] { 8, 32, 64, 72, 80, 96, 128, 256 })
                launched.Add(AttentionLaunch.Plan(new AttentionArgs { B = 1, H = 1, Nq = 1, Nk = 1, D = d, DType = (int)dt }).Entry);
        // the fused q/k projections are picked by CudaOps from the norm, dtype and head dim, through LinearNormRopeFor
        if (Referenced(nameof(CudaKernels.LinearNormRopeFor)))
            foreach (var d in CudaKernels.LinearNormRopeHeadDims)
                foreach (bool layerNorm in new[] { false, true })
                    foreach (bool bf16 in new[] { true, false })
                        launched.Add(CudaKernels.LinearNormRopeFor(layerNorm, bf16, d)!);
        var unlaunched = CudaKernels.All.Where(e => !launched.Contains(e)).Select(e => $"entry {e} is launched nowhere in src/Kernels/Cuda").ToList();
        Assert.True(unlaunched.Count == 0, string.Join("\n", unlaunched));
    }

    [Fact]
    public void ALaunchWithTheWrongArgumentsIsRefusedBeforeTheDriver()
    {
        var k = CudaKernels.MergeLse;   // (ptr, ptr, i64)
        k.CheckArguments([1UL, 2UL, 3L]);
        var few = Assert.Throws<ArgumentException>(() => k.CheckArguments([1UL, 2UL]));
        Assert.Contains("pointwise/merge_lse takes 3 parameters (ptr, ptr, i64), the launch passed 2 (ptr, ptr)", few.Message);
        var many = Assert.Throws<ArgumentException>(() => k.CheckArguments([1UL, 2UL, 3L, 4]));
        Assert.Contains("passed 4 (ptr, ptr, i64, i32)", many.Message);
        var kind = Assert.Throws<ArgumentException>(() => k.CheckArguments([1UL, 2UL, 3]));
        Assert.Contains("passed 3 (ptr, ptr, i32)", kind.Message);
    }
}
