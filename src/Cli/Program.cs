using System.CommandLine;
using XDit.Cli.Commands;

namespace XDit.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("XDit: a C# inference engine for Diffusion Transformers (PixArt, SD3, Flux)");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
        return root.Parse(args).Invoke();
    }
}
