using System.Reflection;
using System.Text.RegularExpressions;

namespace XDit.Tests.Cuda;

/// <summary>
/// build.sh names the test classes its emulator pass runs; the first pass leaves out every test marked
/// <see cref="NeedsCudaDeviceAttribute"/>. A marked class missing from that list never runs in CI (the CUDA fused-op
/// tests went unrun that way for a session): every class holding a marked test must be named there.
/// </summary>
public class EmulatorPassListTests
{
    [Fact]
    public void EveryClassWithDeviceTestsIsInTheEmulatorPass()
    {
        var script = File.ReadAllText(Path.Combine(TestPaths.Root, "build.sh"));
        var listed = new HashSet<string>(Regex.Matches(script, @"^\s*emu \w+ ((?:[^\n]*\\\n)*[^\n]*)", RegexOptions.Multiline)
            .SelectMany(m => m.Groups[1].Value.Split([' ', '\\', '\n'], StringSplitOptions.RemoveEmptyEntries))
            .Select(c => "XDit.Tests." + c));
        Assert.Contains("XDit.Tests.Cuda.CudaOpsTests", listed);   // the parse found the lists
        var marked = typeof(EmulatorPassListTests).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<NeedsCudaDeviceAttribute>() is not null
                || t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                    .Any(m => m.GetCustomAttribute<NeedsCudaDeviceAttribute>() is not null))
            .Select(t => t.FullName!)
            .ToList();
        Assert.NotEmpty(marked);
        var missing = marked.Where(t => !listed.Contains(t)).ToList();
        Assert.True(missing.Count == 0, $"not in build.sh's emulator pass: {string.Join(", ", missing)}");
    }
}
