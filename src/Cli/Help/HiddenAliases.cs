using System.CommandLine;

namespace XDit.Cli.Help;

/// <summary>
/// xDiT's scripts spell flags with underscores (--use_cfg_parallel) and its argparse accepts both spellings, so xdit
/// does too; listing both doubled the width of `generate --help`. The underscore spellings are therefore taken out
/// of the options' aliases (help lists each flag once) and rewritten to the dashed name before parsing.
/// </summary>
public static class HiddenAliases
{
    /// <summary>Removes every alias holding '_' from the options of <paramref name="root"/> and its subcommands;
    /// returns each removed spelling with the option name it stands for.</summary>
    public static IReadOnlyDictionary<string, string> TakeOut(Command root)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var command in Commands(root))
            foreach (var option in command.Options)
                foreach (var alias in option.Aliases.Where(a => a.Contains('_')).ToList())
                {
                    if (map.TryGetValue(alias, out var other) && other != option.Name)
                        throw new InvalidOperationException($"the hidden alias {alias} stands for both {other} and {option.Name}");
                    map[alias] = option.Name;
                    option.Aliases.Remove(alias);
                }
        return map;
    }

    /// <summary>The arguments with each hidden spelling (alone or as --a_b=value) replaced by its option's name, up to
    /// a "--" (what follows it is another command line: `xdit launch -- generate ...` rewrites its own).</summary>
    public static string[] Rewrite(string[] args, IReadOnlyDictionary<string, string> map)
    {
        var result = (string[])args.Clone();
        for (int i = 0; i < result.Length; i++)
        {
            var a = result[i];
            if (a == "--") break;
            if (!a.StartsWith("--", StringComparison.Ordinal)) continue;
            int eq = a.IndexOf('=');
            var flag = eq < 0 ? a : a[..eq];
            if (map.TryGetValue(flag, out var name)) result[i] = eq < 0 ? name : name + a[eq..];
        }
        return result;
    }

    static IEnumerable<Command> Commands(Command c) => new[] { c }.Concat(c.Subcommands.SelectMany(Commands));
}
