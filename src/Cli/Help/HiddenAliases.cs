using System.CommandLine;

namespace XDit.Cli.Help;

/// <summary>
/// xDiT's scripts spell flags with underscores (--use_cfg_parallel) and its argparse accepts both spellings, so xdit
/// does too; listing both doubled the width of `generate --help`. The underscore spellings are therefore taken out
/// of the options' aliases (help lists each flag once) and rewritten to the dashed name before parsing, per command.
/// </summary>
public sealed class HiddenAliases
{
    readonly Dictionary<Command, Dictionary<string, string>> _byCommand = new();
    readonly Command _root;

    HiddenAliases(Command root) => _root = root;

    /// <summary>Removes every alias holding '_' from the options of <paramref name="root"/> and its subcommands, and
    /// remembers, per command, the option name each removed spelling stands for.</summary>
    public static HiddenAliases TakeOut(Command root)
    {
        var hidden = new HiddenAliases(root);
        foreach (var command in Commands(root))
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var option in command.Options)
                foreach (var alias in option.Aliases.Where(a => a.Contains('_')).ToList())
                {
                    map[alias] = option.Name;
                    option.Aliases.Remove(alias);
                }
            hidden._byCommand[command] = map;
        }
        return hidden;
    }

    /// <summary>The arguments with each hidden spelling (alone or as --a_b=value) replaced by the name of the option it
    /// stands for in the command named so far, up to a "--" (what follows it is another command line: `xdit launch --
    /// generate ...` rewrites its own).</summary>
    public string[] Rewrite(string[] args)
    {
        var result = (string[])args.Clone();
        var command = _root;
        for (int i = 0; i < result.Length; i++)
        {
            var a = result[i];
            if (a == "--") break;
            if (command.Subcommands.FirstOrDefault(c => c.Name == a || c.Aliases.Contains(a)) is { } sub) { command = sub; continue; }
            if (!a.StartsWith("--", StringComparison.Ordinal)) continue;
            int eq = a.IndexOf('=');
            var flag = eq < 0 ? a : a[..eq];
            if (_byCommand.TryGetValue(command, out var map) && map.TryGetValue(flag, out var name)) result[i] = eq < 0 ? name : name + a[eq..];
        }
        return result;
    }

    static IEnumerable<Command> Commands(Command c) => new[] { c }.Concat(c.Subcommands.SelectMany(Commands));
}
