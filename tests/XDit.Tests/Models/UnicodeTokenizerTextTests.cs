using System.Text;
using XDit.Models.Tokenizers;
using XDit.Models.Tokenizers.Unicode;

namespace XDit.Tests.Models;

/// <summary>The tokenizers' own Unicode normalisation and lower-casing (no ICU under InvariantGlobalization).</summary>
public class UnicodeTokenizerTextTests
{
    [Theory]
    [InlineData("cafe\u0301", "caf\u00e9")]                       // e + acute composes
    [InlineData("\u212b", "\u00c5")]                              // Angstrom sign: a singleton, never recomposed to itself
    [InlineData("a\u0328\u0301", "\u0105\u0301")]                 // ogonek (202) composes first, acute stays after it
    [InlineData("a\u0301\u0328", "\u0105\u0301")]                 // …whatever order they were written in
    [InlineData("\u1100\u1161\u11a8", "\uac01")]                  // conjoining jamo L V T → one Hangul syllable
    [InlineData("\ufb01", "\ufb01")]                              // NFC leaves compatibility characters alone
    [InlineData("plain ascii", "plain ascii")]
    public void NfcComposes(string input, string expected)
        => Assert.Equal(expected, UnicodeNormalization.Normalize(input, NormalizationForm.FormC));

    [Theory]
    [InlineData("caf\u00e9", NormalizationForm.FormD, "cafe\u0301")]
    [InlineData("\uac01", NormalizationForm.FormD, "\u1100\u1161\u11a8")]
    [InlineData("\ufb01 \u00bd x\u00b2 \uff21", NormalizationForm.FormKC, "fi 1\u20442 x2 A")]
    [InlineData("\u1e9b\u0323", NormalizationForm.FormKC, "\u1e69")]   // UAX #15's example: long s with dot above and below
    [InlineData("\u1e9b\u0323", NormalizationForm.FormKD, "s\u0323\u0307")]
    [InlineData("\U0001D400", NormalizationForm.FormKC, "A")]          // mathematical bold A, outside the BMP
    public void OtherFormsDecomposeAndFold(string input, NormalizationForm form, string expected)
        => Assert.Equal(expected, UnicodeNormalization.Normalize(input, form));

    [Theory]
    [InlineData("\u0130stanbul", "i\u0307stanbul")]               // Rust's full mapping, not .NET's "i"
    [InlineData("\u03a3\u039f\u03a3", "\u03c3\u03bf\u03c3")]       // no final-sigma rule
    [InlineData("\U00010400", "\U00010428")]                      // Deseret, outside the BMP
    [InlineData("ABC \u00c9", "abc \u00e9")]
    public void LowercaseFollowsRust(string input, string expected)
        => Assert.Equal(expected, UnicodeCasing.ToLower(input));

    [Fact]
    public void AddedTokensSplitLeftmostThenLongest()
    {
        var splitter = new AddedTokenSplitter([("<extra_id_1>", 1), ("<extra_id_10>", 10), ("</s>", 2)]);
        var pieces = splitter.Split("a<extra_id_10>b</s></s>").ToList();
        Assert.Equal([("a", 0, null), ("<extra_id_10>", 1, 10), ("b", 14, null), ("</s>", 15, 2), ("</s>", 19, 2)],
            pieces.Select(p => (p.Text, p.Offset, p.Id)).ToList());
    }
}
