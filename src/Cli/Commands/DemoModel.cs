namespace XDit.Cli.Commands;

/// <summary>Finds the demo model shipped in the repository (models/demo) from wherever xdit runs.</summary>
public static class DemoModel
{
    public static string Find()
    {
        if (Environment.GetEnvironmentVariable("XDIT_DEMO_MODEL") is { Length: > 0 } env) return env;
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models", "demo");
                if (File.Exists(Path.Combine(candidate, "model_index.json"))) return candidate;
            }
        throw new DirectoryNotFoundException("the demo model (models/demo) was not found above the executable or the current folder; pass --model DIR");
    }
}
