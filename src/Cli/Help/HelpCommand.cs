using System.CommandLine;

namespace XDit.Cli.Help;

/// <summary>`xdit help [COMMAND]`: the same text as `xdit [COMMAND] --help`; an unknown command is named with the
/// nearest one.</summary>
public static class HelpCommand
{
    public static Command Create(RootCommand root)
    {
        var path = new Argument<string[]>("command") { Description = "The command to describe (all commands when left out)", Arity = ArgumentArity.ZeroOrMore };
        var cmd = new Command("help", "Show the help of xdit or of one command (xdit help generate)");
        cmd.Arguments.Add(path);
        cmd.SetAction(parse =>
        {
            var words = parse.GetValue(path) ?? [];
            Command at = root;
            foreach (var word in words)
            {
                var next = at.Subcommands.FirstOrDefault(c => c.Name == word || c.Aliases.Contains(word));
                if (next is null)
                {
                    Console.Error.WriteLine($"xdit: {ParseErrorLines.UnknownCommand(word, at)}");
                    return 1;
                }
                at = next;
            }
            return root.Parse([.. words, "--help"]).Invoke();
        });
        return cmd;
    }
}
