using System.CommandLine;

namespace XDit.Cli.Help;

/// <summary>
/// Turns System.CommandLine's parse errors into the lines xdit prints: an unknown option or command is named with
/// the nearest known one ("did you mean --steps?") and where to read the list; the value after an unknown option is
/// not reported again as a second unknown argument.
/// </summary>
public static class ParseErrorLines
{
    const string Unrecognized = "Unrecognized command or argument";
    const string NoCommand = "Required command was not provided";

    public static IEnumerable<string> For(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        var unmatched = parsed.UnmatchedTokens;
        var lines = new List<string>();
        // one line per word that matched nothing
        for (int i = 0; i < unmatched.Count; i++)
        {
            var token = unmatched[i];
            if (token.StartsWith('-') && token.Length > 1) lines.Add(UnknownOption(token, command));
            // the value of the unknown option just named
            else if (i > 0 && unmatched[i - 1].StartsWith('-') && unmatched[i - 1].Length > 1 && !unmatched[i - 1].Contains('=')) continue;
            else if (command.Subcommands.Count > 0)
            {
                lines.Add(UnknownCommand(token, command));
                break; // what follows belongs to the command meant
            }
            else lines.Add($"unexpected argument '{token}' for {Path(command)} (xdit help {HelpPath(command)} shows its usage)");
        }
        // the other errors (a required option missing) follow from the mistyped word; they come after its fix
        if (lines.Count > 0) return lines;
        foreach (var error in parsed.Errors)
        {
            if (error.Message.StartsWith(Unrecognized, StringComparison.Ordinal)) continue;
            if (error.Message.StartsWith(NoCommand, StringComparison.Ordinal))
            {
                lines.Add($"give a command: {string.Join(", ", Visible(command.Subcommands).Select(c => c.Name))} (xdit help)");
                continue;
            }
            lines.Add(error.Message);
        }
        return lines.Distinct();
    }

    public static string UnknownOption(string typed, Command command)
    {
        int eq = typed.IndexOf('=');
        var flag = eq < 0 ? typed : typed[..eq];
        var names = OptionsOf(command).Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name));
        var near = Suggestions.Nearest(flag.Replace('_', '-'), names);
        var hint = near is null ? "" : $": did you mean {near}?";
        return $"unknown option {flag} for {Path(command)}{hint} (xdit help {HelpPath(command)} lists the options)";
    }

    public static string UnknownCommand(string typed, Command parent)
    {
        var near = Suggestions.Nearest(typed, Visible(parent.Subcommands).SelectMany(c => c.Aliases.Prepend(c.Name)));
        var hint = near is null ? "" : $": did you mean {near}?";
        var list = parent.Parents.Any() ? $"xdit help {HelpPath(parent)}" : "xdit help";
        return $"unknown command '{typed}'{hint} ({list} lists the commands)";
    }

    /// <summary>The options a command accepts: its own and the recursive ones of the commands above it (--help).</summary>
    static IEnumerable<Option> OptionsOf(Command command)
    {
        foreach (var o in command.Options) yield return o;
        for (var p = command.Parents.OfType<Command>().FirstOrDefault(); p is not null; p = p.Parents.OfType<Command>().FirstOrDefault())
            foreach (var o in p.Options.Where(o => o.Recursive)) yield return o;
    }

    static IEnumerable<Command> Visible(IEnumerable<Command> commands) => commands.Where(c => !c.Hidden);

    static string Path(Command command) => command is RootCommand ? "xdit" : $"xdit {HelpPath(command)}";

    static string HelpPath(Command command)
    {
        var names = new List<string>();
        for (var c = command; c is not null and not RootCommand; c = c.Parents.OfType<Command>().FirstOrDefault()) names.Insert(0, c.Name);
        return string.Join(' ', names);
    }
}
