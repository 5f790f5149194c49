using XDit.Comm.Launch;
using XDit.Engine.Backends;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>`xdit generate` as one rank of a launched run (RANK/WORLD_SIZE set).</summary>
public static partial class GenerateCommand
{
    /// <summary>
    /// Joins the world (TCP for CPU ranks, NCCL on cuda:LOCAL_RANK), runs this rank's share with
    /// <see cref="ParallelGeneration.RunRank"/>, and has each data-parallel replica's leader write its images under
    /// the names a single process would give them (x_0.png, x_1.png, ... by prompt order), so replicas never collide.
    /// Rank 0 reports progress and the summary.
    /// </summary>
    static int RunLaunchedRank(DistributedEnvironment env, string modelDir, PipelineOptions options, ParallelConfig plan,
        GenerationRequest request, string outPath, ProgressReporter reporter, bool quiet, bool json, StepCacheOptions.Choice? cache)
    {
        plan = LaunchedPlan(env, plan);
        var mesh = plan.Mesh();
        bool talk = env.Rank == 0 && !quiet && !json;

        using var ops = LaunchedOps(env, options);
        using var world = LaunchedWorld.Connect(env, ops);
        if (talk) Console.WriteLine($"mesh: {mesh} ({env.WorldSize} processes over {world.Transport})");
        var outcome = ParallelGeneration.RunRank(world.Communicator, modelDir, plan, request, (pipeline, rank) =>
        {
            cache?.Install(pipeline);
            if (rank != 0) return;
            pipeline.Progress += (_, p) => reporter.Step(p);
            pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
        });
        reporter.Done();

        var written = new List<string>();
        if (outcome.Leader)
        {
            int total = request.Prompts.Count * request.NumImagesPerPrompt, mine = outcome.Result.Images.Count;
            var names = OutputNames(outPath, total);
            for (int i = 0; i < mine; i++)
            {
                var file = names[outcome.Replica * mine + i];
                outcome.Result.Images[i].SavePng(file);
                written.Add(file);
            }
        }
        // Nobody closes its connections while another rank still works or writes.
        world.Communicator.Barrier();

        var r = outcome.Result;
        if (env.Rank == 0 && json) Console.WriteLine(JsonSummary(modelDir, options, plan, r, written));
        else if (talk)
        {
            Console.WriteLine($"rank 0: {r.Images.Count} image(s) {r.Width}x{r.Height}, {r.Steps} steps, seed {r.Seed}, on {ops.Name} x{env.WorldSize}; bytes sent by this rank: {world.Communicator.Stats.BytesSent / 1024.0:F1} KiB");
            PrintStages(r);
        }
        if (!quiet && !json) foreach (var f in written) Console.WriteLine($"wrote {f}");
        return 0;
    }

    /// <summary>The plan of a launched rank: its degrees must multiply to WORLD_SIZE.</summary>
    static ParallelConfig LaunchedPlan(DistributedEnvironment env, ParallelConfig plan)
    {
        int degrees = plan.DataParallelDegree * plan.CfgDegree * plan.UlyssesDegree * plan.RingDegree * plan.PipeFusionParallelDegree;
        if (degrees != env.WorldSize)
            throw new ArgumentException($"launched as {env.WorldSize} ranks (WORLD_SIZE) but the parallel degrees multiply to {degrees}: set them (e.g. --data-parallel-degree {env.WorldSize}) so that they multiply to the number of processes");
        return plan with { WorldSize = env.WorldSize };
    }

    /// <summary>A launched rank's backend: cuda becomes cuda:LOCAL_RANK.</summary>
    static XDit.Kernels.IOps LaunchedOps(DistributedEnvironment env, PipelineOptions options)
    {
        var device = options.Device.Trim().ToLowerInvariant() == "cuda" ? $"cuda:{env.LocalRank}" : options.Device;
        return BackendFactory.Create(device, options.DType, options.AttentionBackend);
    }
}
