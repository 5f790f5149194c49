namespace XDit.Engine.Pipelines;

/// <summary>
/// Finds the demo model (a small PixArt-α pipeline, T5 + transformer + VAE, that draws 32×32 pictures of coloured
/// shapes: "a red circle on a blue background"). Looked for, in order: the folder named by XDIT_DEMO_MODEL;
/// models/demo beside the application (where the XDit.DemoModel package copies it); models/demo in the folders above
/// the application and above the current folder (a clone of the repository).
/// </summary>
public static class DemoModel
{
    /// <summary>The environment variable that names the demo model's folder.</summary>
    public const string Variable = "XDIT_DEMO_MODEL";

    /// <summary>The demo model's folder (holding model_index.json), or null when none is found.</summary>
    public static string? TryFind()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } env) return env;
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models", "demo");
                if (File.Exists(Path.Combine(candidate, "model_index.json"))) return candidate;
            }
        return null;
    }

    /// <summary>The demo model's folder; throws, saying where it was looked for and how to provide it, when none is found.</summary>
    public static string Find() => TryFind() ?? throw new DirectoryNotFoundException(
        $"the demo model (models/demo) was not found beside or above {AppContext.BaseDirectory} nor above {Directory.GetCurrentDirectory()}: "
        + $"reference the XDit.DemoModel package (it copies models/demo beside the app), set {Variable} to its folder, or give a model folder");
}
