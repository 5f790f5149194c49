using System.CommandLine;
using System.Runtime.InteropServices;
using XDit.Comm.Launch;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit launch`: torchrun for xdit. Starts --nproc-per-node processes of this executable running the command
/// after --, with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set; `generate` then runs as one rank
/// of the distributed world (TCP between CPU ranks, NCCL between GPUs). Ctrl-C, SIGTERM and SIGHUP stop every rank
/// before it exits; a SIGKILL it cannot catch reaches the ranks through their parent-death signal (ParentDeath).
/// </summary>
public static class LaunchCommand
{
    public static Command Create()
    {
        var nproc = new Option<int>("--nproc-per-node", "--nproc_per_node") { Description = "Processes (ranks) on this node; one per GPU", Required = true };
        var nnodes = new Option<int>("--nnodes") { Description = "Nodes taking part", DefaultValueFactory = _ => 1 };
        var nodeRank = new Option<int>("--node-rank", "--node_rank") { Description = "This node's index (0 hosts the rendezvous store)", DefaultValueFactory = _ => 0 };
        var addr = new Option<string>("--master-addr", "--master_addr") { Description = "Address of node 0", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int?>("--master-port", "--master_port") { Description = "Port of the rendezvous store on node 0 [default: a free port, one node only]" };
        var all = new Option<bool>("--all-ranks-output") { Description = "Relay every rank's output, not just rank 0's (errors are always relayed)" };
        var command = new Argument<string[]>("command") { Description = "The xdit command each rank runs, after --", Arity = ArgumentArity.ZeroOrMore };

        var cmd = new Command("launch", "Run an xdit command as N ranks in N processes (like torchrun): xdit launch --nproc-per-node 2 -- generate ...");
        foreach (var o in new Option[] { nproc, nnodes, nodeRank, addr, port, all }) cmd.Options.Add(o);
        cmd.Arguments.Add(command);
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var args = parse.GetValue(command) ?? [];
            if (args.Length == 0)
                throw new ArgumentException("nothing to launch: give the command after --, e.g. xdit launch --nproc-per-node 2 -- generate -p \"...\" --data-parallel-degree 2");
            if (args[0] == "launch") throw new ArgumentException("launch cannot launch itself");
            var (program, prefix) = Self();
            var plan = new LaunchPlan(program, [.. prefix, .. args], parse.GetValue(nproc), parse.GetValue(nnodes), parse.GetValue(nodeRank),
                parse.GetValue(addr)!, parse.GetValue(port), parse.GetValue(all));
            using var cancel = new CancellationTokenSource();
            // Without these the runtime's default SIGTERM exit would skip the launcher's kill of its ranks.
            Action<PosixSignalContext> stop = c => { c.Cancel = true; cancel.Cancel(); };
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, stop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, stop);
            using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, stop);
            return new Launcher(Console.Out, Console.Error).Run(plan, cancel.Token);
        }));
        return cmd;
    }

    /// <summary>How to start this same xdit again: the apphost itself, or the dotnet host with xdit.dll (also when
    /// the CLI runs inside another program, such as the test host).</summary>
    static (string Program, string[] Prefix) Self()
    {
        // beside the host's entry (not Assembly.Location, which is empty inside a single-file xdit; there the apphost
        // branch below applies)
        var dll = Path.Combine(AppContext.BaseDirectory, "xdit.dll");
        var exe = Environment.ProcessPath;
        var name = exe is null ? "" : Path.GetFileNameWithoutExtension(exe);
        if (name == "dotnet") return (exe!, [dll]);
        if (name == "xdit") return (exe!, []);
        return (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet", [dll]);
    }
}
