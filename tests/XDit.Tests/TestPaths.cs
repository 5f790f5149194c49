namespace XDit.Tests;

/// <summary>Finds the repository's data folders from wherever the test executable runs.</summary>
public static class TestPaths
{
    static readonly Lazy<string> RootDir = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "XDit.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("could not find the repository root (XDit.sln) above " + AppContext.BaseDirectory);
    });

    public static string Root => RootDir.Value;
    public static string Fixtures => Path.Combine(Root, "tests", "fixtures");
    public static string Fixture(string name) => Path.Combine(Fixtures, name);
    public static string DemoModel => Path.Combine(Root, "models", "demo");

    /// <summary>A fresh empty temporary folder for one test.</summary>
    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "xdit-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
