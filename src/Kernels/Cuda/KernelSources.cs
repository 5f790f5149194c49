using System.Reflection;

namespace XDit.Kernels.Cuda;

/// <summary>The CUDA C sources embedded from native/kernels (resources named kernels/NAME.cu and kernels/NAME.cuh).</summary>
public static class KernelSources
{
    const string Prefix = "kernels/";
    static readonly Assembly Asm = typeof(KernelSources).Assembly;

    /// <summary>Module names (file names without .cu).</summary>
    public static IReadOnlyList<string> Modules { get; } = Asm.GetManifestResourceNames()
        .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".cu", StringComparison.Ordinal))
        .Select(n => n[Prefix.Length..^3]).OrderBy(n => n, StringComparer.Ordinal).ToArray();

    /// <summary>Headers (.cuh) by include name, handed to NVRTC so <c>#include "common.cuh"</c> resolves.</summary>
    public static IReadOnlyDictionary<string, string> Headers { get; } = Asm.GetManifestResourceNames()
        .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".cuh", StringComparison.Ordinal))
        .ToDictionary(n => n[Prefix.Length..], Read);

    public static string Source(string module) => Read(Prefix + module + ".cu");

    static string Read(string resource)
    {
        using var s = Asm.GetManifestResourceStream(resource)
            ?? throw new FileNotFoundException($"embedded kernel source '{resource}' is missing (native/kernels is embedded by XDit.Kernels.csproj)");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
