using System.CommandLine;
using XDit.Engine.Execution;

namespace XDit.Cli.Commands;

/// <summary>xDiT's parallel flags (dashes or underscores, as xDiT accepts both) and --world-size.</summary>
public sealed class ParallelOptions
{
    readonly Option<int?> _world = Int("--world-size", "Ranks to run in this process [default: the product of the degrees]");
    readonly Option<int> _dp = Degree("--data-parallel-degree", "Data parallel degree: prompts split across replicas");
    readonly Option<bool> _cfg = new("--use-cfg-parallel", "--use_cfg_parallel") { Description = "Run the two guidance branches on two ranks" };
    readonly Option<int> _ulysses = Degree("--ulysses-degree", "Ulysses sequence-parallel degree (must divide the heads)");
    readonly Option<int> _ring = Degree("--ring-degree", "Ring sequence-parallel degree");
    readonly Option<int> _pp = Degree("--pipefusion-parallel-degree", "PipeFusion stages (consecutive blocks per stage)");
    readonly Option<int?> _patches = Int("--num-pipeline-patch", "PipeFusion patches per image [default: one per stage]");
    readonly Option<int> _warmup = new("--warmup-steps", "--warmup_steps") { Description = "PipeFusion steps on the full sequence before patches stream", DefaultValueFactory = _ => 1 };
    readonly Option<bool> _vae = new("--use-parallel-vae", "--use_parallel_vae") { Description = "Decode (and encode an input image) with the VAE split in row bands across ranks" };

    public IEnumerable<Option> All => new Option[] { _world, _dp, _cfg, _ulysses, _ring, _pp, _patches, _warmup, _vae };

    public ParallelConfig Read(ParseResult parse)
    {
        int dp = parse.GetValue(_dp), u = parse.GetValue(_ulysses), r = parse.GetValue(_ring), pp = parse.GetValue(_pp);
        bool cfg = parse.GetValue(_cfg);
        int world = parse.GetValue(_world) ?? dp * (cfg ? 2 : 1) * u * r * pp;
        if (world < 1) throw new ArgumentException($"--world-size must be at least 1, got {world}");
        return new ParallelConfig
        {
            WorldSize = world,
            DataParallelDegree = dp,
            UseCfgParallel = cfg,
            UlyssesDegree = u,
            RingDegree = r,
            PipeFusionParallelDegree = pp,
            NumPipelinePatch = parse.GetValue(_patches),
            WarmupSteps = parse.GetValue(_warmup),
            UseParallelVae = parse.GetValue(_vae),
        };
    }

    /// <summary>xDiT's argparse accepts --a_b for --a-b.</summary>
    static string Underscored(string name) => "--" + name[2..].Replace('-', '_');

    static Option<int> Degree(string name, string description) =>
        new(name, Underscored(name)) { Description = description, DefaultValueFactory = _ => 1 };

    static Option<int?> Int(string name, string description) => new(name, Underscored(name)) { Description = description };
}
