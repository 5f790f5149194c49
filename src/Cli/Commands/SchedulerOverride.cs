using System.Text.RegularExpressions;
using XDit.Engine.Samplers;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit analyze --scheduler CLASS|FILE`: runs a pipeline folder with another scheduler, as the paper's
/// flux-sd3-scheduler experiment does, without touching the folder or the pipelines: a temporary folder links every
/// component of the original and holds its own scheduler/scheduler_config.json: FILE as it is, or the folder's own
/// config with "_class_name" set to CLASS. Disposing removes the links and the folder, never what they point to.
/// </summary>
sealed class SchedulerOverride : IDisposable
{
    SchedulerOverride(string dir) { Dir = dir; }

    /// <summary>The folder to load the pipeline from.</summary>
    public string Dir { get; }

    public static SchedulerOverride Create(string modelDir, string scheduler)
    {
        var own = Path.Combine(modelDir, "scheduler", "scheduler_config.json");
        string config;
        if (File.Exists(scheduler)) config = File.ReadAllText(scheduler);
        else
        {
            if (!SchedulerFactory.Supported.Contains(scheduler))
                throw new ArgumentException($"--scheduler: '{scheduler}' is neither a file nor one of {string.Join(", ", SchedulerFactory.Supported)}");
            if (!File.Exists(own)) throw new FileNotFoundException($"--scheduler: {own} does not exist", own);
            // diffusers writes -Infinity and NaN, which a strict JSON parser refuses: replace the class name as text
            var text = File.ReadAllText(own);
            var key = new Regex("\"_class_name\"\\s*:\\s*\"[^\"]*\"");
            if (!key.IsMatch(text)) throw new InvalidDataException($"--scheduler: {own} has no \"_class_name\"");
            config = key.Replace(text, $"\"_class_name\": \"{scheduler}\"", 1);
        }
        var dir = Path.Combine(Path.GetTempPath(), $"xdit-scheduler-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var result = new SchedulerOverride(dir);
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(modelDir))
            {
                var name = Path.GetFileName(entry);
                if (name == "scheduler") continue;
                var link = Path.Combine(dir, name);
                if (Directory.Exists(entry)) Directory.CreateSymbolicLink(link, Path.GetFullPath(entry));
                else File.CreateSymbolicLink(link, Path.GetFullPath(entry));
            }
            Directory.CreateDirectory(Path.Combine(dir, "scheduler"));
            File.WriteAllText(Path.Combine(dir, "scheduler", "scheduler_config.json"), config);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            result.Dispose();
            throw new IOException($"--scheduler: could not link {modelDir} into {dir}: {e.Message}", e);
        }
        return result;
    }

    public void Dispose()
    {
        if (!Directory.Exists(Dir)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(Dir))
        {
            var info = new FileInfo(entry);
            if (info.LinkTarget is not null) info.Delete();   // the link, not its target
        }
        var own = Path.Combine(Dir, "scheduler");
        if (Directory.Exists(own)) Directory.Delete(own, recursive: true);
        Directory.Delete(Dir);
    }
}
