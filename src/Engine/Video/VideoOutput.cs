using XDit.Engine.Pipelines;

namespace XDit.Engine.Video;

/// <summary>How a video is written, chosen by the output path: <c>.gif</c> an animated GIF (<see cref="GifWriter"/>),
/// <c>.mp4</c> H.264 through ffmpeg (<see cref="Mp4VideoWriter"/>), an existing folder or a name without extension a
/// folder of PNG frames (<see cref="FrameFolderWriter"/>).</summary>
public enum VideoFormat { Gif, Mp4, Frames }

/// <summary>Writes <see cref="GeneratedVideo"/>s; the path's extension chooses the format (<see cref="VideoFormat"/>).</summary>
public static class VideoOutput
{
    /// <summary>diffusers' and xDiT's default frame rate for CogVideoX (export_to_video(..., fps=8)).</summary>
    public const int DefaultFps = 8;

    /// <summary>The format <paramref name="path"/> asks for; another extension is refused in one line naming the
    /// three.</summary>
    public static VideoFormat FormatOf(string path)
    {
        if (Directory.Exists(path)) return VideoFormat.Frames;
        var ext = Path.GetExtension(path.TrimEnd('/', Path.DirectorySeparatorChar));
        return ext.ToLowerInvariant() switch
        {
            ".gif" => VideoFormat.Gif,
            ".mp4" => VideoFormat.Mp4,
            "" => VideoFormat.Frames,
            _ => throw new ArgumentException($"{path}: a video is written as .mp4, .gif or a folder of PNG frames (a path without extension), not as {ext}"),
        };
    }

    /// <summary>Writes <paramref name="video"/> to <paramref name="path"/> in the format its extension names, at
    /// <paramref name="fps"/> frames per second (a frame folder has no rate). Returns the format written.</summary>
    public static VideoFormat Save(GeneratedVideo video, string path, int fps = DefaultFps)
    {
        if (fps < 1) throw new ArgumentOutOfRangeException(nameof(fps), fps, "frames per second must be at least 1");
        var format = FormatOf(path);
        switch (format)
        {
            case VideoFormat.Gif: GifWriter.Save(video, path, fps); break;
            case VideoFormat.Mp4: Mp4VideoWriter.Save(video, path, fps); break;
            default: FrameFolderWriter.Save(video, path); break;
        }
        return format;
    }

    /// <summary>Writes a file whole or not at all: into a temporary file beside the target, then moved over it.</summary>
    internal static void WriteWhole(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{path}: the folder {dir} does not exist");
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var fs = File.Create(tmp)) write(fs);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new IOException($"{path}: cannot write the video: {e.Message}", e);
        }
    }
}
