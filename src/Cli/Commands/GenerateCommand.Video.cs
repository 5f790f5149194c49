using System.Text.Json;
using XDit.Engine.Pipelines;
using XDit.Engine.Video;

namespace XDit.Cli.Commands;

/// <summary>`xdit generate` with a video pipeline (CogVideoX, Latte): one device, videos written by the output's extension.</summary>
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

    static int RunVideo(string modelDir, PipelineOptions options, GenerationRequest request, string outPath, int fps, long? memoryLimit,
        ProgressReporter reporter, bool quiet, bool json)
    {
        if (fps < 1) throw new ArgumentException($"--fps must be at least 1, got {fps}");
        using var loaded = reporter.Stage("load", () => PipelineLoader.Load(modelDir, options));
        var pipeline = loaded as TextToVideoPipeline
            ?? throw new InvalidOperationException($"{modelDir}: {loaded.Index.PipelineClass} did not load as a video pipeline");
        pipeline.Progress += (_, p) => reporter.Step(p);
        pipeline.Warning += (_, w) => Console.Error.WriteLine($"xdit: warning: {w}");
        pipeline.Limits = pipeline.Limits with { MaxMemoryBytes = memoryLimit };
        var result = pipeline.GenerateVideo(request);
        result = result with { Timings = result.Timings.WithFirst("load", reporter.LoadTime) };
        reporter.Done();

        var files = VideoOutputNames(outPath, result.Videos.Count);
        for (int i = 0; i < files.Count; i++) VideoOutput.Save(result.Videos[i], files[i], fps);

        if (json)
        {
            var stages = result.Timings.Stages.ToDictionary(s => s.Stage + "_ms", s => Math.Round(s.Time.TotalMilliseconds, 3));
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = modelDir, device = options.Device, world_size = 1, width = result.Width, height = result.Height,
                num_frames = result.NumFrames, fps, steps = result.Steps, seed = result.Seed, videos = files, timings = stages,
            }));
        }
        else if (!quiet)
        {
            Console.WriteLine($"{result.Videos.Count} video(s) of {result.NumFrames} frames {result.Width}x{result.Height}, {result.Steps} steps, seed {result.Seed}, on {pipeline.Ops.Name}");
            foreach (var (stage, time) in result.Timings.Stages)
                Console.WriteLine($"  {stage,-8} {time.TotalMilliseconds,9:F1} ms" + (stage == "denoise" ? $"  ({time.TotalMilliseconds / result.Steps:F1} ms/step)" : ""));
            foreach (var note in pipeline.Ops.FallbackNotes()) Console.WriteLine($"  note: {note}");
            foreach (var f in files) Console.WriteLine($"wrote {f}" + (VideoOutput.FormatOf(f) == VideoFormat.Frames ? $" ({result.NumFrames} PNG frames)" : $" ({fps} fps)"));
        }
        return 0;
    }
}
