using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>
/// Compiles CUDA C sources to CUBIN for one real architecture (sm_XX) with NVRTC. A CUBIN skips the driver's PTX
/// JIT, which rejects PTX from an NVRTC newer than the driver. Results are cached on disk under
/// ~/.cache/xdit/kernels (or $XDIT_KERNEL_CACHE), keyed by a SHA-256 of source, headers, options, arch and NVRTC
/// version, so a second start compiles nothing.
/// </summary>
public sealed unsafe class NvrtcCompiler
{
    public NvrtcCompiler(string arch, string? cacheDir = null)
    {
        CudaLibraries.Require(CudaLibraries.NvrtcSpec);
        int major, minor;
        Check.Nvrtc(Nvrtc.nvrtcVersion(&major, &minor), "nvrtcVersion");
        Version = $"{major}.{minor}";
        Arch = PickArch(arch);
        CacheDir = cacheDir ?? DefaultCacheDir();
    }

    public string Version { get; }
    public string Arch { get; }
    public string CacheDir { get; }
    /// <summary>How many programs this compiler actually compiled (cache misses).</summary>
    public int Compilations { get; private set; }

    /// <summary>Base options: no fast math (parity kernels), C++17, device code by default.</summary>
    public static readonly string[] BaseOptions = ["--std=c++17", "-default-device"];

    /// <summary>Options from $XDIT_NVRTC_OPTIONS (split at white space) added to every compile, for trying a kernel's
    /// compile-time knobs (-DTC_MIN_BLOCKS=2, say) on a device without a rebuild; they are part of the cache key.</summary>
    public static string[] EnvironmentOptions() =>
        (Environment.GetEnvironmentVariable("XDIT_NVRTC_OPTIONS") ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    public static string DefaultCacheDir()
    {
        var env = Environment.GetEnvironmentVariable("XDIT_KERNEL_CACHE");
        if (!string.IsNullOrEmpty(env)) return env;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".cache", "xdit", "kernels");
    }

    /// <summary>The device's sm_XX when NVRTC supports it; otherwise the newest supported arch of the same
    /// major version below it (a CUBIN runs on later minors of its major).</summary>
    static string PickArch(string arch)
    {
        int count;
        Check.Nvrtc(Nvrtc.nvrtcGetNumSupportedArchs(&count), "nvrtcGetNumSupportedArchs");
        var archs = new int[count];
        fixed (int* p = archs) Check.Nvrtc(Nvrtc.nvrtcGetSupportedArchs(p), "nvrtcGetSupportedArchs");
        if (!arch.StartsWith("sm_") || !int.TryParse(arch.AsSpan(3), out int want))
            throw new ArgumentException($"architecture '{arch}' is not of the form sm_XX");
        if (archs.Contains(want)) return arch;
        var fallback = archs.Where(a => a / 10 == want / 10 && a < want).DefaultIfEmpty(-1).Max();
        if (fallback < 0)
            throw new CudaUnavailableException($"NVRTC cannot compile for {arch} (it supports {string.Join(", ", archs.Select(a => "sm_" + a))})");
        return "sm_" + fallback;
    }

    /// <summary>CUBIN for <paramref name="source"/>; <paramref name="headers"/> maps include names to their text.</summary>
    public byte[] Compile(string name, string source, IReadOnlyDictionary<string, string>? headers = null, IEnumerable<string>? extraOptions = null)
    {
        headers ??= new Dictionary<string, string>();
        var options = BaseOptions.Concat(extraOptions ?? []).Concat(EnvironmentOptions()).Append($"--gpu-architecture={Arch}").ToArray();
        string key = CacheKey(source, headers, options);
        string file = Path.Combine(CacheDir, $"{name}-{key}.cubin");
        if (File.Exists(file))
        {
            try { return File.ReadAllBytes(file); }
            catch (IOException) { /* a concurrent writer: compile again */ }
        }
        var cubin = CompileUncached(name, source, headers, options);
        Compilations++;
        try
        {
            Directory.CreateDirectory(CacheDir);
            string tmp = file + "." + Environment.ProcessId + ".tmp";
            File.WriteAllBytes(tmp, cubin);
            File.Move(tmp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* cache is best effort */ }
        return cubin;
    }

    string CacheKey(string source, IReadOnlyDictionary<string, string> headers, string[] options)
    {
        var sb = new StringBuilder();
        sb.Append("nvrtc ").Append(Version).Append('\n').Append(Arch).Append('\n');
        foreach (var o in options) sb.Append(o).Append('\n');
        foreach (var kv in headers.OrderBy(k => k.Key, StringComparer.Ordinal)) sb.Append(kv.Key).Append('\n').Append(kv.Value).Append('\n');
        sb.Append(source);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..20].ToLowerInvariant();
    }

    static byte[] CompileUncached(string name, string source, IReadOnlyDictionary<string, string> headers, string[] options)
    {
        var toFree = new List<nint>();
        byte* Utf8(string s) { var p = Marshal.StringToCoTaskMemUTF8(s); toFree.Add(p); return (byte*)p; }
        nint prog = 0;
        try
        {
            var hdrNames = headers.Keys.ToArray();
            var hdrText = stackalloc byte*[Math.Max(1, hdrNames.Length)];
            var hdrInc = stackalloc byte*[Math.Max(1, hdrNames.Length)];
            for (int i = 0; i < hdrNames.Length; i++) { hdrText[i] = Utf8(headers[hdrNames[i]]); hdrInc[i] = Utf8(hdrNames[i]); }
            Check.Nvrtc(Nvrtc.nvrtcCreateProgram(&prog, Utf8(source), Utf8(name + ".cu"), hdrNames.Length, hdrText, hdrInc), $"nvrtcCreateProgram({name})");
            var opts = stackalloc byte*[options.Length];
            for (int i = 0; i < options.Length; i++) opts[i] = Utf8(options[i]);
            int r = Nvrtc.nvrtcCompileProgram(prog, options.Length, opts);
            if (r != 0) Check.Nvrtc(r, $"nvrtcCompileProgram({name})", Log(prog));
            nuint size;
            Check.Nvrtc(Nvrtc.nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
            var cubin = new byte[(int)size];
            fixed (byte* p = cubin) Check.Nvrtc(Nvrtc.nvrtcGetCUBIN(prog, p), "nvrtcGetCUBIN");
            return cubin;
        }
        finally
        {
            if (prog != 0) Nvrtc.nvrtcDestroyProgram(&prog);
            foreach (var p in toFree) Marshal.FreeCoTaskMem(p);
        }
    }

    static string Log(nint prog)
    {
        nuint size;
        if (Nvrtc.nvrtcGetProgramLogSize(prog, &size) != 0 || size <= 1) return "(no log)";
        var buf = new byte[(int)size];
        fixed (byte* p = buf) Nvrtc.nvrtcGetProgramLog(prog, p);
        return Encoding.UTF8.GetString(buf, 0, buf.Length - 1).Trim();
    }
}
