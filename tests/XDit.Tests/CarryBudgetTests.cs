using System.Diagnostics;
using System.Text;

namespace XDit.Tests;

/// <summary>
/// What travels to a lent GPU machine is capped at 64 MiB: the tracked files plus the .gpu/ folder of
/// tests/gpu-pack.sh (the packed test build and .NET runtime), which fails above 62.5 MiB in all. The tracked part is
/// held here to a budget that leaves .gpu/ its room, so a large fixture fails here, in CI, rather than on the day of a
/// GPU check; links are carried as links, so each must resolve inside the repository.
/// </summary>
public class CarryBudgetTests
{
    /// <summary>62.5 MiB less 11 for .gpu/: 10.6 MiB on 2026-12-07 (runtime 8.0, build 2.6, printed by
    /// `bash tests/gpu-pack.sh`, after it left out the plotting assemblies and six more unused framework assemblies;
    /// 11.1 before). The tracked files were 50.7 MiB then. Raise it only with what gpu-pack prints.</summary>
    const double TrackedBudgetMiB = 51.5;

    /// <summary>The tracked files that exist in the working tree, relative to the root.</summary>
    static List<string> TrackedFiles()
    {
        var info = new ProcessStartInfo("git") { WorkingDirectory = TestPaths.Root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "ls-files", "-z" }) info.ArgumentList.Add(a);
        using var git = Process.Start(info)!;
        var stderr = git.StandardError.ReadToEndAsync();
        var output = git.StandardOutput.ReadToEnd();
        git.WaitForExit();
        Assert.True(git.ExitCode == 0, $"git ls-files in {TestPaths.Root} exited {git.ExitCode}: {stderr.Result}");
        var files = output.Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => Path.Exists(Path.Combine(TestPaths.Root, f)) || new FileInfo(Path.Combine(TestPaths.Root, f)).LinkTarget is not null).ToList();
        Assert.True(files.Count > 100, $"git ls-files in {TestPaths.Root} listed {files.Count} files");
        return files;
    }

    /// <summary>Bytes as gpu-pack.sh counts them (stat without following links: a link is its target's name).</summary>
    static long Size(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is { } target ? Encoding.UTF8.GetByteCount(target) : info.Length;
    }

    [Fact]
    public void TrackedFilesStayUnderTheirBudget()
    {
        var sizes = TrackedFiles().Select(f => (File: f, Bytes: Size(Path.Combine(TestPaths.Root, f)))).ToList();
        double mib = sizes.Sum(s => s.Bytes) / 1048576.0;
        var largest = string.Join("\n", sizes.OrderByDescending(s => s.Bytes).Take(10).Select(s => $"  {s.Bytes,10}  {s.File}"));
        Assert.True(mib <= TrackedBudgetMiB,
            $"the tracked files are {mib:F1} MiB, over their budget of {TrackedBudgetMiB} MiB (what travels to a GPU machine: " +
            $"tests/gpu-pack.sh); store large files compressed or smaller. The largest:\n{largest}");
    }

    [Fact]
    public void EveryTrackedLinkResolvesInsideTheRepository()
    {
        var root = Path.GetFullPath(TestPaths.Root) + Path.DirectorySeparatorChar;
        var links = TrackedFiles().Select(f => Path.Combine(TestPaths.Root, f)).Where(f => new FileInfo(f).LinkTarget is not null).ToList();
        Assert.NotEmpty(links);   // the pipeline fixtures' tokenizer files
        foreach (var link in links)
        {
            var target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(link)!, new FileInfo(link).LinkTarget!));
            // a file, or a folder of tracked files (pipe_flux_kontext's model folders are pipe_flux's)
            bool exists = File.Exists(target) || Directory.Exists(target);
            Assert.True(target.StartsWith(root, StringComparison.Ordinal) && exists,
                $"{link} links to {new FileInfo(link).LinkTarget}, which is {(exists ? "outside the repository" : "missing")}: only the link would travel");
        }
    }
}
