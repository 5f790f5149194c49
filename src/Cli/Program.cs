using System.CommandLine;
using XDit.Cli.Commands;

namespace XDit.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // A rank started by `xdit launch` ends with its launcher, however the launcher ends.
        if (!XDit.Comm.Launch.ParentDeath.Arm(Console.Error)) return 1;
        var root = new RootCommand("XDit: a C# inference engine for Diffusion Transformers (PixArt, SD3, Flux)");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
        var parsed = root.Parse(args.Length == 0 ? new[] { "--help" } : args);
        // A mistyped command line gets one line per problem, not the whole help text (xdit CMD --help shows it).
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"xdit: {error.Message}");
            return 1;
        }
        return parsed.Invoke();
    }
}
