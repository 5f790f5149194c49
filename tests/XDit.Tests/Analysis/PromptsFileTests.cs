using XDit.Engine.Analysis;

namespace XDit.Tests.Analysis;

/// <summary>The prompts file of `xdit analyze`: COCO captions JSON, a JSON array, or plain lines, in file order.</summary>
public class PromptsFileTests
{
    static string Write(string text)
    {
        var path = Path.Combine(TestPaths.TempDir(), "prompts");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void TheThreeFormsReadInFileOrder()
    {
        Assert.Equal(["a cat", "a dog"], PromptsFile.Read(Write("""{"info": {}, "annotations": [{"id": 1, "caption": " a cat "}, {"id": 0, "caption": "a dog"}]}""")));
        Assert.Equal(["a cat", "a dog"], PromptsFile.Read(Write("""["a cat", "a dog"]""")));
        Assert.Equal(["a cat", "a dog"], PromptsFile.Read(Write("a cat\r\n\n  a dog\n")));
    }

    [Fact]
    public void TheShippedDemoPromptsUseOnlyTheDemoVocabulary()
    {
        var prompts = PromptsFile.Read(Path.Combine(TestPaths.DemoModel, "prompts.json"));
        Assert.True(prompts.Count >= 10, $"{prompts.Count} prompts");
        string[] words = ["a", "on", "background", "black", "blue", "cyan", "gray", "green", "orange", "purple", "red", "white", "yellow", "circle", "square", "triangle", "cross", "ring"];
        Assert.All(prompts, p => Assert.All(p.Split(' '), w => Assert.Contains(w, words)));
        Assert.Equal(prompts.Count, prompts.Distinct().Count());
    }

    [Fact]
    public void BadFilesAreRefusedNamingTheFileAndWhatIsWrong()
    {
        var missing = Path.Combine(TestPaths.TempDir(), "none.json");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => PromptsFile.Read(missing)).Message);
        var noCaption = Write("""{"annotations": [{"id": 1}]}""");
        Assert.Contains("annotations[0] has no string \"caption\"", Assert.Throws<InvalidDataException>(() => PromptsFile.Read(noCaption)).Message);
        Assert.Contains("element 1", Assert.Throws<InvalidDataException>(() => PromptsFile.Read(Write("""["a", 3]"""))).Message);
        Assert.Contains("no prompts", Assert.Throws<InvalidDataException>(() => PromptsFile.Read(Write("\n \n"))).Message);
    }
}
