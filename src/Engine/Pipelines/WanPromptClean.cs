using System.Net;
using System.Text.RegularExpressions;

namespace XDit.Engine.Pipelines;

/// <summary>
/// diffusers' prompt_clean for Wan (basic_clean, then whitespace_clean) as it runs where ftfy is not installed:
/// HTML character references decoded twice (so a double-escaped <c>&amp;amp;</c> becomes <c>&amp;</c>), the ends
/// stripped, every run of whitespace made one space. ftfy.fix_text (mojibake repair) is not done here: with ftfy
/// installed diffusers also repairs mis-decoded text, which changes only such text. The decoding is .NET's
/// WebUtility.HtmlDecode, which knows HTML 4's named references and needs their semicolon; Python's html.unescape
/// also knows HTML 5's and a few without the semicolon (<c>&amp;amp</c>), so only such rare texts differ.
/// </summary>
public static partial class WanPromptClean
{
    public static string Clean(string text)
    {
        string decoded = WebUtility.HtmlDecode(WebUtility.HtmlDecode(text)).Trim();
        return Whitespace().Replace(decoded, " ").Trim();
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
