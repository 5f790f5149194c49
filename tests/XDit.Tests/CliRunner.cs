using System.Diagnostics;
using XDit.Cli;

namespace XDit.Tests;

/// <summary>Runs the xdit CLI, capturing what it prints: in-process (<see cref="Xdit"/>), or as a process of its own
/// (<see cref="XditProcess"/>) where a test needs its own environment or several processes. Tests using it belong to
/// the "Console" collection, since the console is process-wide.</summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Xdit(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return (Program.Main(args), o.ToString(), e.ToString()); }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    /// <summary>Runs the built xdit.dll (next to the test assembly) under the dotnet host as a separate process, with
    /// the launcher's variables removed from its environment and <paramref name="env"/> added.</summary>
    public static (int Code, string Out, string Err) XditProcess(TimeSpan limit, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "xdit.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build tests/XDit.Tests (it references the CLI project)");
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var v in new[] { "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "XDIT_AGENT_STORE" }) info.Environment.Remove(v);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) info.Environment[k] = v;
        using var proc = Process.Start(info)!;
        var stdout = proc.StandardOutput.ReadToEndAsync();
        var stderr = proc.StandardError.ReadToEndAsync();
        if (!proc.WaitForExit(limit))
        {
            proc.Kill(entireProcessTree: true);
            Assert.Fail($"xdit {string.Join(' ', args)} did not finish within {limit.TotalSeconds} s");
        }
        proc.WaitForExit();
        return (proc.ExitCode, stdout.Result, stderr.Result);
    }

    public static (int Code, string Out, string Err) XditProcess(TimeSpan limit, params string[] args) => XditProcess(limit, null, args);
}
