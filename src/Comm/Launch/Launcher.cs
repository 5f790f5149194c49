using System.Diagnostics;
using XDit.Comm.Tcp;

namespace XDit.Comm.Launch;

/// <summary>
/// torchrun's job for one node: hosts the rendezvous store (node 0), starts one child process per local rank with
/// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT set, relays their output prefixed
/// "[rank r]" (rank 0's everything, the others' "xdit:" error and warning lines unless all output is asked for),
/// and waits. The first child to fail has its exit code returned and the others killed, so a dead rank never
/// leaves the rest hanging. Each child gets this process's id (<see cref="ParentDeath.LauncherPidVar"/>) and ties
/// its life to it, so no rank outlives a launcher that is killed outright.
/// </summary>
public sealed class Launcher(TextWriter stdout, TextWriter stderr)
{
    readonly object _outputGate = new();

    public int Run(LaunchPlan plan, CancellationToken cancel = default)
    {
        plan.Validate();
        using var store = plan.NodeRank == 0
            ? RendezvousStore.Start(RendezvousStore.BindAddressFor(plan.MasterAddr), plan.MasterPort ?? 0)
            : null;
        int port = store?.Port ?? plan.MasterPort!.Value;

        var children = new List<(int Rank, Process Process)>();
        try
        {
            for (int local = 0; local < plan.ProcsPerNode; local++)
            {
                int rank = plan.NodeRank * plan.ProcsPerNode + local;
                children.Add((rank, Start(plan, rank, local, port)));
            }
            return Wait(children, cancel);
        }
        finally
        {
            foreach (var (_, p) in children) { KillQuietly(p); p.Dispose(); }
        }
    }

    Process Start(LaunchPlan plan, int rank, int local, int port)
    {
        var info = new ProcessStartInfo(plan.Program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in plan.Arguments) info.ArgumentList.Add(a);
        info.Environment[DistributedEnvironment.RankVar] = rank.ToString();
        info.Environment[DistributedEnvironment.WorldSizeVar] = plan.WorldSize.ToString();
        info.Environment[DistributedEnvironment.LocalRankVar] = local.ToString();
        info.Environment[DistributedEnvironment.LocalWorldSizeVar] = plan.ProcsPerNode.ToString();
        info.Environment[DistributedEnvironment.MasterAddrVar] = plan.MasterAddr;
        info.Environment[DistributedEnvironment.MasterPortVar] = port.ToString();
        info.Environment[DistributedEnvironment.AgentStoreVar] = "1";
        info.Environment[ParentDeath.LauncherPidVar] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => Relay(rank, e.Data, stdout, errorStream: false, plan.AllRanksOutput);
        p.ErrorDataReceived += (_, e) => Relay(rank, e.Data, stderr, errorStream: true, plan.AllRanksOutput);
        try { p.Start(); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            p.Dispose();
            throw new IOException($"launch: cannot start rank {rank} ({plan.Program}): {e.Message}", e);
        }
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    void Relay(int rank, string? line, TextWriter to, bool errorStream, bool all)
    {
        if (line is null) return;
        if (rank != 0 && !all && !(errorStream && line.StartsWith("xdit:", StringComparison.Ordinal))) return;
        lock (_outputGate) to.WriteLine($"[rank {rank}] {line}");
    }

    /// <summary>Waits for every child; on the first failure kills the rest and returns its code.</summary>
    int Wait(List<(int Rank, Process Process)> children, CancellationToken cancel)
    {
        var pending = children.ToDictionary(c => c.Process.WaitForExitAsync(cancel), c => c);
        while (pending.Count > 0)
        {
            Task done;
            try
            {
                done = Task.WhenAny(pending.Keys).GetAwaiter().GetResult();
                done.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                lock (_outputGate) stderr.WriteLine("xdit: launch: interrupted; stopping every rank");
                return 130;
            }
            var (rank, p) = pending[done];
            pending.Remove(done);
            if (p.ExitCode != 0)
            {
                foreach (var (_, other) in pending.Values) KillQuietly(other);
                foreach (var (_, other) in pending.Values) other.WaitForExit(); // flush their output
                lock (_outputGate)
                    stderr.WriteLine($"xdit: launch: rank {rank} exited with code {p.ExitCode}" + (pending.Count > 0 ? $"; stopped rank(s) {string.Join(", ", pending.Values.Select(v => v.Rank).Order())}" : ""));
                return p.ExitCode;
            }
        }
        return 0;
    }

    static void KillQuietly(Process p)
    {
        try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }
}
