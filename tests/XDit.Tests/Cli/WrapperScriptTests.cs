using System.Diagnostics;

namespace XDit.Tests.Cli;

/// <summary>The ./xdit wrapper rebuilds only for a changed source: files generated under obj/ (a build of the library
/// from another project writes them) do not count.</summary>
public class WrapperScriptTests
{
    [Fact]
    public void GeneratedFilesUnderObjDoNotMakeTheWrapperRebuild()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("the wrapper is a bash script");
        var obj = Path.Combine(TestPaths.Root, "src", "Engine", "obj", $"wrapper-probe-{Guid.NewGuid():N}");
        var probe = Path.Combine(obj, "Generated.AssemblyInfo.cs");
        Directory.CreateDirectory(obj);
        try
        {
            File.WriteAllText(probe, "// newer than xdit.dll");
            // nothing (fresh), or the one source file newer than the dll, never the generated one
            var stale = StaleCheck().TrimEnd('\n');
            Assert.True(stale == "" || (File.Exists(stale) && !stale.Contains('\n')), $"not a source file: {stale}");
            Assert.DoesNotContain("wrapper-probe", stale);
            Assert.DoesNotContain("/obj/", stale);
        }
        finally { Directory.Delete(obj, recursive: true); }
    }

    /// <summary>What `XDIT_STALE_CHECK=1 ./xdit` names: the first source newer than xdit.dll, or nothing.</summary>
    static string StaleCheck()
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(TestPaths.Root, "xdit"));
        info.Environment["XDIT_STALE_CHECK"] = "1";
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return output;
    }
}
