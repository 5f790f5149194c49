using XDit.Cli;

namespace XDit.Tests;

/// <summary>Runs the xdit CLI in-process, capturing what it prints. Tests using it belong to the "Console"
/// collection, since the console is process-wide.</summary>
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
}
