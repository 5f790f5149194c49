using FFMpegCore;
using FFMpegCore.Pipes;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Video;

/// <summary>
/// A video as MP4, encoded as diffusers' export_to_video does through imageio-ffmpeg: H.264 (libx264) in yuv420p at
/// constant rate factor 25 (its quality 5 of 10), sizes not a multiple of 16 scaled up to the next multiple (its
/// macro_block_size 16). The frames go to the ffmpeg program through FFMpegCore as raw RGB24; ffmpeg must be on PATH
/// (this program ships no encoder), else the call is refused before any work, naming the alternatives.
/// </summary>
public static class Mp4VideoWriter
{
    /// <summary>The ffmpeg executable on <paramref name="searchPath"/> (a PATH-style list; null: the PATH variable),
    /// or null.</summary>
    public static string? FindFfmpeg(string? searchPath = null)
    {
        var names = OperatingSystem.IsWindows() ? new[] { "ffmpeg.exe" } : new[] { "ffmpeg" };
        foreach (var dir in (searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in names)
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>Refuses, in one line naming <paramref name="path"/> and the alternatives, when no ffmpeg is on PATH
    /// (or <paramref name="searchPath"/>): call it before generating, so that a run never ends without its output.</summary>
    public static void RequireFfmpeg(string path, string? searchPath = null)
    {
        if (FindFfmpeg(searchPath) is null)
            throw new InvalidOperationException($"{path}: writing MP4 needs the ffmpeg program on PATH (e.g. apt-get install ffmpeg); or write an animated GIF (.gif) or a folder of PNG frames (a path without extension), which need nothing else");
    }

    public static void Save(GeneratedVideo video, string path, int fps)
    {
        if (fps < 1) throw new ArgumentOutOfRangeException(nameof(fps), fps, "frames per second must be at least 1");
        RequireFfmpeg(path);
        var ffmpeg = FindFfmpeg()!;
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{path}: the folder {dir} does not exist");
        // written beside the target and moved over it, so a failed encode leaves no half file
        var tmp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(full)}.{Environment.ProcessId}.tmp.mp4");
        int w16 = (video.Width + 15) / 16 * 16, h16 = (video.Height + 15) / 16 * 16;
        var source = new RawVideoPipeSource(video.Rgb8Frames().Select(f => (IVideoFrame)new Rgb24Frame(f, video.Width, video.Height))) { FrameRate = fps };
        var options = new FFOptions { BinaryFolder = Path.GetDirectoryName(ffmpeg)!, TemporaryFilesFolder = dir };
        try
        {
            var result = FFMpegArguments.FromPipeInput(source)
                .OutputToFile(tmp, overwrite: true, o =>
                {
                    o.WithVideoCodec("libx264").WithCustomArgument("-pix_fmt yuv420p -crf 25");
                    if (w16 != video.Width || h16 != video.Height) o.WithCustomArgument($"-vf scale={w16}:{h16}");
                })
                .ProcessSynchronously(throwOnError: true, options);
            if (!result.Success || !File.Exists(tmp)) throw new IOException($"ffmpeg exited with code {result.ExitCode}");
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new IOException($"{path}: ffmpeg ({ffmpeg}) could not encode the video: {FirstLine(e.Message)}", e);
        }
    }

    static string FirstLine(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? s;

    /// <summary>One frame as FFMpegCore's raw input: interleaved 8-bit RGB rows.</summary>
    sealed class Rgb24Frame(byte[] rgb, int width, int height) : IVideoFrame
    {
        public int Width => width;
        public int Height => height;
        public string PixelFormat => "rgb24";
        public void Serialize(Stream pipe) => pipe.Write(rgb, 0, rgb.Length);
        public Task SerializeAsync(Stream pipe, CancellationToken token) => pipe.WriteAsync(rgb, 0, rgb.Length, token);
    }
}
