using System.CommandLine;
using System.CommandLine.Help;
using XDit.Cli.Commands;
using XDit.Cli.Help;

namespace XDit.Cli;

public static class Program
{
    /// <summary>Help is wrapped to this many columns whatever the terminal (or pipe) is.</summary>
    public const int HelpWidth = 100;

    public static int Main(string[] args)
    {
        // A rank started by `xdit launch` ends with its launcher, however the launcher ends.
        if (!XDit.Comm.Launch.ParentDeath.Arm(Console.Error)) return 1;
        var root = BuildRoot(out var hiddenAliases);
        args = hiddenAliases.Rewrite(args);
        var parsed = root.Parse(args.Length == 0 ? new[] { "--help" } : args);
        // A mistyped command line gets one line per problem, with the nearest option or command when one is close,
        // not the whole help text (xdit help CMD shows it).
        if (parsed.Errors.Count > 0)
        {
            foreach (var line in ParseErrorLines.For(parsed)) Console.Error.WriteLine($"xdit: {line}");
            return 1;
        }
        return parsed.Invoke();
    }

    /// <summary>The command tree: every command of the catalog, `help`, help wrapped to <see cref="HelpWidth"/>, and
    /// the underscore spellings of flags (xDiT's argparse accepts --a_b for --a-b) taken out of the listing.</summary>
    public static RootCommand BuildRoot(out HiddenAliases hiddenAliases)
    {
        var root = new RootCommand("XDit: a C# inference engine for Diffusion Transformers (PixArt, SD3, Flux)");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
        root.Subcommands.Add(HelpCommand.Create(root));
        foreach (var help in root.Options.OfType<HelpOption>())
            if (help.Action is HelpAction action) action.MaxWidth = HelpWidth;
        hiddenAliases = HiddenAliases.TakeOut(root);
        return root;
    }
}
