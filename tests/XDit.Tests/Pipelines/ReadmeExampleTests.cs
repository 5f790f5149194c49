namespace XDit.Tests.Pipelines;

[Collection("Console")]
public class ReadmeExampleTests
{
    [Fact]
    public void TheReadmeShowsTheExampleThatCompilesHere()
    {
        var source = File.ReadAllText(Path.Combine(TestPaths.Root, "tests", "XDit.Tests", "Pipelines", "ReadmeExample.cs"));
        int begin = source.IndexOf("// readme-example-begin", StringComparison.Ordinal), end = source.IndexOf("// readme-example-end", StringComparison.Ordinal);
        var example = source[(source.IndexOf('\n', begin) + 1)..end].Trim().ReplaceLineEndings("\n");
        var readme = File.ReadAllText(Path.Combine(TestPaths.Root, "README.md")).ReplaceLineEndings("\n");
        Assert.Contains(example, readme);
    }

    [Fact]
    public void TheReadmeExampleDrawsAPicture()
    {
        var png = Path.Combine(TestPaths.TempDir(), "example.png");
        var oldOut = Console.Out;
        Console.SetOut(TextWriter.Null);
        try { ReadmeExample.Run(TestPaths.DemoModel, png); }
        finally { Console.SetOut(oldOut); }
        Assert.True(new FileInfo(png).Length > 100);
    }
}
