namespace XDit.Tests.Pipelines;

/// <summary>README's library example is tests/package/App/Program.cs, a whole console app with its Main; ./build.sh
/// pack builds it against the packages (tests/package/check.sh). It cannot be compiled into this test assembly,
/// which has its own entry point.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void TheReadmeShowsThePackageExampleAppWordForWord()
    {
        var example = File.ReadAllText(Path.Combine(TestPaths.Root, "tests", "package", "App", "Program.cs")).Trim().ReplaceLineEndings("\n");
        var readme = File.ReadAllText(Path.Combine(TestPaths.Root, "README.md")).ReplaceLineEndings("\n");
        Assert.Contains("```csharp\n" + example + "\n```", readme);
    }

    [Fact]
    public void TheLibraryFindsTheDemoModelOfThisRepository()
    {
        var found = XDit.Engine.Pipelines.DemoModel.Find();
        Assert.True(File.Exists(Path.Combine(found, "model_index.json")), found);
        Assert.Equal(Path.GetFullPath(TestPaths.DemoModel), Path.GetFullPath(found));
    }
}
