using System.CommandLine;

namespace XDit.Cli.Commands;

/// <summary>Every subcommand of the xdit executable, in the order `xdit --help` lists them.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return GenerateCommand.Create();
        yield return LaunchCommand.Create();
        yield return ServeCommand.Create();
        yield return VerifyCommand.Create();
        yield return AnalyzeCommand.Create();
        yield return InspectCommand.Create();
        yield return InfoCommand.Create();
        yield return TokenizeCommand.Create();
        yield return BenchCommand.Create();
    }
}
