using System.Diagnostics;
using XDit.Comm.Launch;

namespace XDit.Tests.Comm;

/// <summary>`xdit launch` as a user runs it (a real child process of dotnet + xdit.dll, which starts its ranks as
/// processes too), the launcher's failure handling, and the environment a launched rank reads.</summary>
[Collection("Console")]
public class LaunchTests
{
    const string Red = "a red circle on a blue background", Yellow = "a yellow square on a black background";

    [Fact]
    public void TwoProcessDataParallelWritesTheSameImagesAsOneProcess()
    {
        var dir = TestPaths.TempDir();
        var (code, stdout, stderr) = CliRunner.XditProcess(TimeSpan.FromSeconds(120), "launch", "--nproc-per-node", "2", "--",
            "generate", "-p", Red, "-p", Yellow, "--data-parallel-degree", "2", "--steps", "3", "-o", Path.Combine(dir, "x.png"));
        Assert.True(code == 0, $"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.Contains("[rank 0] mesh: world 2 = dp 2", stdout);
        Assert.Contains("over tcp", stdout);
        Assert.DoesNotContain("[rank 1]", stdout + stderr); // only rank 0 talks unless asked
        Assert.Equal(new[] { "x_0.png", "x_1.png" }, Directory.GetFiles(dir).Select(Path.GetFileName).Order());

        var single = TestPaths.TempDir();
        var (code1, _, err1) = CliRunner.Xdit("generate", "-p", Red, "-p", Yellow, "--steps", "3", "-o", Path.Combine(single, "x.png"), "-q");
        Assert.True(code1 == 0, err1);
        foreach (var name in new[] { "x_0.png", "x_1.png" })
        {
            var a = File.ReadAllBytes(Path.Combine(dir, name));
            var b = File.ReadAllBytes(Path.Combine(single, name));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{name}: the launched replica's PNG differs from the single-process one");
        }
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(dir, "x_0.png")), File.ReadAllBytes(Path.Combine(dir, "x_1.png")));
    }

    [Fact]
    public void DegreesThatDoNotMatchTheProcessCountFailOnEveryRankWithOneLine()
    {
        var dir = TestPaths.TempDir();
        var (code, _, stderr) = CliRunner.XditProcess(TimeSpan.FromSeconds(60), "launch", "--nproc-per-node", "2", "--", "generate", "-p", Red, "-o", Path.Combine(dir, "x.png"));
        Assert.Equal(1, code);
        Assert.Contains("launched as 2 ranks (WORLD_SIZE) but the parallel degrees multiply to 1", stderr);
        Assert.Contains("xdit: launch: rank", stderr);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void TheFirstFailureIsReturnedAndTheOtherRanksAreStopped()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "uses /bin/sh as the launched program");
        var (o, e) = (new StringWriter(), new StringWriter());
        var sw = Stopwatch.StartNew();
        // Rank 1 prints its environment and fails; ranks 0 and 2 would sleep for a minute.
        int code = new Launcher(o, e).Run(new LaunchPlan("/bin/sh",
            ["-c", "if [ \"$RANK\" = 1 ]; then echo \"$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $MASTER_ADDR $XDIT_AGENT_STORE\"; echo 'xdit: boom' >&2; exit 3; fi; exec sleep 60"],
            ProcsPerNode: 3, AllRanksOutput: true), TestContext.Current.CancellationToken);
        Assert.Equal(3, code);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed.TotalSeconds:F1} s: the sleeping ranks were not stopped");
        Assert.Contains("[rank 1] 1 3 1 3 127.0.0.1 1", o.ToString());
        Assert.Contains("[rank 1] xdit: boom", e.ToString());
        Assert.Contains("xdit: launch: rank 1 exited with code 3; stopped rank(s) 0, 2", e.ToString());
    }

    [Fact]
    public void ALaunchedRankReadsTorchrunsVariables()
    {
        Assert.Null(DistributedEnvironment.FromEnvironment(_ => null));
        var vars = new Dictionary<string, string> { ["RANK"] = "3", ["WORLD_SIZE"] = "4", ["MASTER_ADDR"] = "10.0.0.7", ["MASTER_PORT"] = "29511", ["LOCAL_RANK"] = "1" };
        var env = DistributedEnvironment.FromEnvironment(k => vars.GetValueOrDefault(k))!;
        Assert.Equal((3, 4, 1, "10.0.0.7", 29511, false), (env.Rank, env.WorldSize, env.LocalRank, env.MasterAddr, env.MasterPort, env.AgentStore));
        Assert.False(env.Rendezvous().HostStore);
        vars["RANK"] = "0";
        Assert.True(DistributedEnvironment.FromEnvironment(k => vars.GetValueOrDefault(k))!.Rendezvous().HostStore); // env:// style: rank 0 hosts
        vars["XDIT_AGENT_STORE"] = "1";
        Assert.False(DistributedEnvironment.FromEnvironment(k => vars.GetValueOrDefault(k))!.Rendezvous().HostStore); // the launcher hosts it
    }

    [Theory]
    [InlineData("RANK=x,WORLD_SIZE=2", "RANK='x' is not a whole number")]
    [InlineData("RANK=0", "RANK is set but WORLD_SIZE is not")]
    [InlineData("RANK=2,WORLD_SIZE=2", "RANK 2 is outside 0..1")]
    [InlineData("RANK=0,WORLD_SIZE=2,XDIT_COMM_TIMEOUT=-1", "XDIT_COMM_TIMEOUT='-1'")]
    public void BadVariablesAreNamed(string assignments, string expected)
    {
        var vars = assignments.Split(',').Select(a => a.Split('=')).ToDictionary(a => a[0], a => a[1]);
        var ex = Assert.Throws<ArgumentException>(() => DistributedEnvironment.FromEnvironment(k => vars.GetValueOrDefault(k)));
        Assert.Contains(expected, ex.Message);
    }

    [Theory]
    [InlineData(0, 1, 0, null, "--nproc-per-node must be at least 1")]
    [InlineData(2, 2, 2, 29500, "--node-rank 2 is outside 0..1")]
    [InlineData(2, 2, 0, null, "--master-port is required with --nnodes > 1")]
    public void BadLaunchPlansAreRefused(int nproc, int nnodes, int nodeRank, int? port, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => new LaunchPlan("x", ["generate"], nproc, nnodes, nodeRank, MasterPort: port).Validate());
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void LaunchWithoutACommandSaysWhatToGive()
    {
        var (code, _, stderr) = CliRunner.Xdit("launch", "--nproc-per-node", "2");
        Assert.Equal(1, code);
        Assert.Contains("nothing to launch: give the command after --", stderr);
    }
}
