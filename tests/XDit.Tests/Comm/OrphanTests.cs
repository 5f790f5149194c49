using System.Diagnostics;
using System.Runtime.InteropServices;
using XDit.Comm.Launch;

namespace XDit.Tests.Comm;

/// <summary>
/// No rank outlives its launcher (issue 22, item 5): killed outright (SIGKILL, which it cannot catch) the kernel ends
/// the ranks through their parent-death signal; asked to stop (SIGTERM) the launcher stops them itself. The ranks run
/// `xdit serve`, which waits forever, so only these mechanisms can end them; every wait is bounded.
/// </summary>
public partial class OrphanTests
{
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    static (string Host, string Dll) Xdit()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "xdit.dll");
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        return (host, dll);
    }

    static Process Start(string program, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var v in new[] { "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "XDIT_AGENT_STORE", ParentDeath.LauncherPidVar })
            info.Environment.Remove(v);
        var p = Process.Start(info)!;
        _ = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        return p;
    }

    /// <summary>Reads stdout lines until one contains <paramref name="marker"/>; returns the lines read.</summary>
    static async Task<List<string>> ReadUntil(Process p, string marker)
    {
        var lines = new List<string>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(Bound);
        while (await p.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            lines.Add(line);
            if (line.Contains(marker, StringComparison.Ordinal)) return lines;
        }
        Assert.Fail($"the process ended before printing \"{marker}\": {string.Join(" | ", lines)}");
        return lines;
    }

    static bool Alive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }

    static void WaitGone(int pid, string what)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            if (!p.WaitForExit(Bound))
            {
                p.Kill();
                Assert.Fail($"{what} (process {pid}) outlived its launcher");
            }
        }
        catch (ArgumentException) { } // already gone
    }

    [Fact]
    public async Task ARankDiesWithALauncherKilledOutright()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the parent-death signal is Linux's");
        var (host, dll) = Xdit();
        // sh stands in for a launcher: it starts the rank as its child with its own pid in the variable, prints the
        // rank's pid, and waits. SIGKILL gives it no chance to do anything for its child.
        using var launcher = Start("/bin/sh", ["-c", $"{ParentDeath.LauncherPidVar}=$$ \"$@\" & echo $!; wait", "sh",
            host, dll, "serve", "--port", "0", "--model", TestPaths.DemoModel]);
        var lines = await ReadUntil(launcher, "listening on");
        int rank = int.Parse(lines[0]);
        Assert.True(Alive(rank));
        launcher.Kill(); // SIGKILL, the launcher only
        launcher.WaitForExit();
        WaitGone(rank, "the rank");
    }

    [Fact]
    public void ARankWhoseLauncherIsAlreadyGoneStopsAtOnce()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the parent-death signal is Linux's");
        var log = new StringWriter();
        // pid 1 is never this test's parent
        Assert.False(ParentDeath.Arm(log, v => v == ParentDeath.LauncherPidVar ? "1" : null));
        Assert.Contains("launcher (process 1) is gone", log.ToString());
        Assert.True(ParentDeath.Arm(log, _ => null)); // not launched: nothing to do
        Assert.False(ParentDeath.Arm(log, v => v == ParentDeath.LauncherPidVar ? "x" : null));
    }

    [Fact]
    public async Task SigtermToTheLauncherStopsItsRanksBeforeItExits()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "reads the launcher's children from /proc");
        var (host, dll) = Xdit();
        using var launcher = Start(host, [dll, "launch", "--nproc-per-node", "1", "--", "serve", "--port", "0", "--model", TestPaths.DemoModel]);
        await ReadUntil(launcher, "[rank 0] xdit serve: listening on");
        var ranks = Directory.GetDirectories($"/proc/{launcher.Id}/task")
            .SelectMany(t => File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(int.Parse).ToList();
        int rank = Assert.Single(ranks);
        Assert.Equal(0, Kill(launcher.Id, 15));
        Assert.True(launcher.WaitForExit(Bound), "the launcher did not exit on SIGTERM");
        // The launcher's own stop (exit 130 and its line), not the runtime's default SIGTERM exit (143).
        Assert.Equal(130, launcher.ExitCode);
        WaitGone(rank, "the rank");
    }
}
