using System.Reflection;

namespace XDit.Cli.Commands;

/// <summary>The demo model for the commands: where the library finds it (<see cref="Engine.Pipelines.DemoModel"/>),
/// else, in a single-file xdit that carries it as resources (./build.sh publish), unpacked once into a cache folder.</summary>
public static class DemoModel
{
    const string ResourcePrefix = "demo/";

    public static string Find() => Engine.Pipelines.DemoModel.TryFind() ?? Unpacked() ?? Engine.Pipelines.DemoModel.Find();

    /// <summary>The embedded copy unpacked under ~/.cache/xdit/demo-VERSION (XDG_CACHE_HOME when set), or null when
    /// this xdit carries none. Files are written beside their final name and moved, so a run that stops midway
    /// leaves nothing that looks complete; model_index.json goes last.</summary>
    static string? Unpacked()
    {
        var assembly = typeof(DemoModel).Assembly;
        var names = assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            .OrderBy(n => n.EndsWith("model_index.json", StringComparison.Ordinal)).ThenBy(n => n, StringComparer.Ordinal).ToList();
        if (names.Count == 0) return null;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        var dir = Path.Combine(cache, "xdit", "demo-" + string.Concat(version.Select(c => char.IsLetterOrDigit(c) || c is '.' or '-' ? c : '_')));
        if (File.Exists(Path.Combine(dir, "model_index.json"))) return dir;
        foreach (var name in names)
        {
            // the logical names hold the build machine's separator (MSBuild's RecursiveDir)
            var path = Path.Combine([dir, .. name[ResourcePrefix.Length..].Split('/', '\\')]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var partial = $"{path}.{Environment.ProcessId}.part";
            using (var from = assembly.GetManifestResourceStream(name)!)
            using (var to = File.Create(partial)) from.CopyTo(to);
            File.Move(partial, path, overwrite: true);
        }
        return dir;
    }
}
