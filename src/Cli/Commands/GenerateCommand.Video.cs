using System.Text.Json;
using XDit.Comm.Launch;
using XDit.Engine.Backends;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Video;

namespace XDit.Cli.Commands;

/// <summary>`xdit generate` with a video pipeline (CogVideoX, Latte, Wan, LTX-Video): on one device or N ranks (CFG, data, Ulysses,
/// Ring parallel), videos written by the output's extension.</summary>
public static partial class GenerateCommand
{
    /// <summary>The output of a video run, checked before any work: the given path's format (.mp4 needs ffmpeg on
    /// PATH, .gif and frame folders nothing), its folder writable; without a given path, xdit-output.mp4 where ffmpeg
    /// is found, else xdit-output.gif.</summary>
    static string VideoOutputPath(string? given)
    {
        var path = given ?? (Mp4VideoWriter.FindFfmpeg() is not null ? "xdit-output.mp4" : "xdit-output.gif");
        var format = VideoOutput.FormatOf(path);
        if (format == VideoFormat.Mp4) Mp4VideoWriter.RequireFfmpeg(path);
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        // a frame folder may exist already; a file's (or a new folder's) parent must
        var dir = format == VideoFormat.Frames && Directory.Exists(full) ? full : Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new IOException($"{path}: the folder {dir} does not exist");
        var probe = Path.Combine(dir, $".xdit-write-test-{Environment.ProcessId}");
        try { File.WriteAllBytes(probe, Array.Empty<byte>()); File.Delete(probe); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { throw new IOException($"{path}: cannot write to {dir}: {e.Message}", e); }
        if (format != VideoFormat.Frames && Directory.Exists(full)) throw new IOException($"{path}: is a folder, expected a .mp4 or .gif file name (or a frame folder without extension)");
        return path;
    }

    /// <summary>Names of <paramref name="count"/> videos: the path itself for one, else stem_0.ext, stem_1.ext, …
    /// (a frame folder: folder_0, folder_1, …).</summary>
    static List<string> VideoOutputNames(string path, int count)
    {
        if (count == 1) return [path];
        var trimmed = path.TrimEnd('/', Path.DirectorySeparatorChar);
        var ext = Path.GetExtension(trimmed);
        var stem = ext.Length > 0 ? trimmed[..^ext.Length] : trimmed;
        return Enumerable.Range(0, count).Select(i => $"{stem}_{i}{ext}").ToList();
    }

    /// <summary>A checked video request and how to run it.</summary>
    sealed record VideoRun(string ModelDir, PipelineOptions Options, ParallelConfig Plan, GenerationRequest Request, string OutPath,
        int Fps, long? MemoryLimit, StepCacheOptions.Choice? Cache, CudaGraphLoop? GraphLoop);

    /// <summary>A video run on one device, on N in-process ranks (--world-size) or as one launched rank; then the
    /// videos written and the summary printed.</summary>
    static int RunVideo(VideoRun run, ProgressReporter reporter, bool quiet, bool json)
    {
        if (run.Fps < 1) throw new ArgumentException($"--fps must be at least 1, got {run.Fps}");
        if (DistributedEnvironment.FromEnvironment() is { } launched)
            return run.GraphLoop is not null ? throw new ArgumentException("--use-cuda-graph runs on one GPU, not in a launched world")
                : RunLaunchedVideoRank(launched, run, reporter, quiet, json);
        var mesh = run.Plan.Mesh(); // refuses degrees whose product is not the world size, before any work
        ParallelGeneration.RefuseForVideo(run.Plan);
        VideoGenerationResult result;
        string backend;
        IReadOnlyList<string> notes = [];
        if (run.Plan.IsSingleRank)
        {
            using var loaded = reporter.Stage("load", () => PipelineLoader.Load(run.ModelDir, run.Options));
            var pipeline = AsVideoPipeline(loaded, run.ModelDir);
            Attend(pipeline, reporter, run.MemoryLimit);
            run.Cache?.Install(pipeline);
            if (run.GraphLoop is not null) pipeline.Loop = run.GraphLoop;
            result = pipeline.GenerateVideo(run.Request);
            result = result with { Timings = result.Timings.WithFirst("load", reporter.LoadTime) };
            backend = pipeline.Ops.Name;
            notes = pipeline.Ops.FallbackNotes();
            if (run.GraphLoop is { } g)
                notes = [.. notes, g.FallbackReason ?? $"CUDA graph: {g.Captures} capture(s), {g.Replays} of {result.Steps} steps replayed"];
        }
        else
        {
            if (!quiet && !json) Console.WriteLine($"mesh: {mesh} ({run.Plan.WorldSize} in-process ranks)");
            var outcome = ParallelGeneration.RunVideo(run.ModelDir, run.Plan, run.Request,
                makeOps: _ => BackendFactory.Create(run.Options.Device, run.Options.DType, run.Options.AttentionBackend),
                onRankPipeline: (pipeline, rank) =>
                {
                    run.Cache?.Install(pipeline);
                    if (rank == 0) Attend(pipeline, reporter, run.MemoryLimit);
                    else pipeline.Limits = pipeline.Limits with { MaxMemoryBytes = run.MemoryLimit };
                });
            result = outcome.Result;
            backend = $"{run.Options.Device} x{run.Plan.WorldSize}";
            if (!quiet && !json)
            {
                Console.WriteLine($"bytes sent per rank: {string.Join(", ", outcome.BytesSentPerRank.Select(b => $"{b / 1024.0:F1} KiB"))}");
                Console.WriteLine($"peak activation memory per rank: {string.Join(", ", outcome.PeakBytesPerRank.Select(b => $"{b / 1024.0:F1} KiB"))}");
            }
        }
        reporter.Done();

        var files = VideoOutputNames(run.OutPath, result.Videos.Count);
        for (int i = 0; i < files.Count; i++) VideoOutput.Save(result.Videos[i], files[i], run.Fps);
        if (json) Console.WriteLine(VideoJsonSummary(run, result, files));
        else if (!quiet)
        {
            Console.WriteLine($"{result.Videos.Count} video(s) of {result.NumFrames} frames {result.Width}x{result.Height}, {result.Steps} steps, seed {result.Seed}, on {backend}");
            PrintVideoStages(result);
            foreach (var note in notes) Console.WriteLine($"  note: {note}");
            if (run.Cache is not null) foreach (var line in run.Cache.Summary()) Console.WriteLine(line);
            foreach (var f in files) Console.WriteLine(WroteLine(f, result, run.Fps));
        }
        return 0;
    }

    /// <summary>One rank of a launched video run: as <see cref="RunLaunchedRank"/>, each data-parallel replica's leader
    /// writes its videos under the names one process would give them.</summary>
    static int RunLaunchedVideoRank(DistributedEnvironment env, VideoRun run, ProgressReporter reporter, bool quiet, bool json)
    {
        var plan = LaunchedPlan(env, run.Plan);
        ParallelGeneration.RefuseForVideo(plan);
        var mesh = plan.Mesh();
        bool talk = env.Rank == 0 && !quiet && !json;
        using var ops = LaunchedOps(env, run.Options);
        using var world = LaunchedWorld.Connect(env, ops);
        if (talk) Console.WriteLine($"mesh: {mesh} ({env.WorldSize} processes over {world.Transport})");
        var outcome = ParallelGeneration.RunVideoRank(world.Communicator, run.ModelDir, plan, run.Request, (pipeline, rank) =>
        {
            run.Cache?.Install(pipeline);
            if (rank == 0) Attend(pipeline, reporter, run.MemoryLimit);
            else pipeline.Limits = pipeline.Limits with { MaxMemoryBytes = run.MemoryLimit };
        });
        reporter.Done();

        var written = new List<string>();
        if (outcome.Leader)
        {
            int mine = outcome.Result.Videos.Count;
            var names = VideoOutputNames(run.OutPath, run.Request.Prompts.Count);
            for (int i = 0; i < mine; i++)
            {
                var file = names[outcome.Replica * mine + i];
                VideoOutput.Save(outcome.Result.Videos[i], file, run.Fps);
                written.Add(file);
            }
        }
        // Nobody closes its connections while another rank still works or writes.
        world.Communicator.Barrier();

        var r = outcome.Result;
        if (env.Rank == 0 && json) Console.WriteLine(VideoJsonSummary(run with { Plan = plan }, r, written));
        else if (talk)
        {
            Console.WriteLine($"rank 0: {r.Videos.Count} video(s) of {r.NumFrames} frames {r.Width}x{r.Height}, {r.Steps} steps, seed {r.Seed}, on {ops.Name} x{env.WorldSize}; bytes sent by this rank: {world.Communicator.Stats.BytesSent / 1024.0:F1} KiB");
            PrintVideoStages(r);
        }
        if (!quiet && !json) foreach (var f in written) Console.WriteLine(WroteLine(f, r, run.Fps));
        return 0;
    }

    static TextToVideoPipeline AsVideoPipeline(TextToImagePipeline loaded, string modelDir) => loaded as TextToVideoPipeline
        ?? throw new InvalidOperationException($"{modelDir}: {loaded.Index.PipelineClass} did not load as a video pipeline");

    /// <summary>Rank 0's (or the one device's) pipeline reports progress and warnings; every one gets the memory bound.</summary>
    static void Attend(TextToVideoPipeline pipeline, ProgressReporter reporter, long? memoryLimit)
    {
        pipeline.Progress += (_, p) => reporter.Step(p);
        pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
        pipeline.Limits = pipeline.Limits with { MaxMemoryBytes = memoryLimit };
    }

    static void PrintVideoStages(VideoGenerationResult result)
    {
        foreach (var (stage, time) in result.Timings.Stages)
            Console.WriteLine($"  {stage,-8} {time.TotalMilliseconds,9:F1} ms" + (stage == "denoise" ? $"  ({time.TotalMilliseconds / result.Steps:F1} ms/step)" : ""));
    }

    static string WroteLine(string file, VideoGenerationResult result, int fps)
        => $"wrote {file}" + (VideoOutput.FormatOf(file) == VideoFormat.Frames ? $" ({result.NumFrames} PNG frames)" : $" ({fps} fps)");

    static string VideoJsonSummary(VideoRun run, VideoGenerationResult result, List<string> files)
    {
        var stages = result.Timings.Stages.ToDictionary(s => s.Stage + "_ms", s => Math.Round(s.Time.TotalMilliseconds, 3));
        return JsonSerializer.Serialize(new
        {
            model = run.ModelDir, device = run.Options.Device, world_size = run.Plan.WorldSize, width = result.Width, height = result.Height,
            num_frames = result.NumFrames, fps = run.Fps, steps = result.Steps, seed = result.Seed, videos = files, timings = stages,
        });
    }
}
