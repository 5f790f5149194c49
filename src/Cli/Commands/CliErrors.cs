namespace XDit.Cli.Commands;

/// <summary>
/// Turns any failure of a command into one line on stderr (`xdit: message`) and exit code 1: the messages name the
/// file, tensor or option and what was expected and found. XDIT_TRACE=1 prints the whole exception instead.
/// </summary>
public static class CliErrors
{
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e)
        {
            var text = Environment.GetEnvironmentVariable("XDIT_TRACE") == "1" ? e.ToString() : e.Message.ReplaceLineEndings(" ");
            Console.Error.WriteLine($"xdit: {text}");
            return 1;
        }
    }
}
