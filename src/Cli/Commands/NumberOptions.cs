using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace XDit.Cli.Commands;

/// <summary>Numeric options whose parse errors read as one plain sentence ("--steps: 'x' is not a whole number").</summary>
public static class NumberOptions
{
    public static Option<float?> Float(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r => Parse(r, name, "a number", (string s, out float v) => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && float.IsFinite(v)),
    };

    public static Option<int?> Int(string name, string description, params string[] aliases)
    {
        var option = new Option<int?>(name, aliases)
        {
            Description = description,
            CustomParser = r => Parse(r, name, "a whole number", (string s, out int v) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v)),
        };
        return option;
    }

    delegate bool TryParse<T>(string s, out T value);

    static T? Parse<T>(ArgumentResult r, string name, string what, TryParse<T> tryParse) where T : struct
    {
        var token = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (tryParse(token, out var value)) return value;
        r.AddError($"{name}: '{token}' is not {what}");
        return null;
    }
}
