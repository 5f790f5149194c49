using XDit.Engine.Pipelines;

namespace XDit.Engine.Video;

/// <summary>A video as a folder of PNG frames, frame_0000.png, frame_0001.png, … (the folder is made if absent; its
/// parent must exist). Lossless, and needs nothing outside this program.</summary>
public static class FrameFolderWriter
{
    /// <summary>The file name of frame <paramref name="index"/>.</summary>
    public static string FrameName(int index) => $"frame_{index:D4}.png";

    /// <summary>Writes every frame into <paramref name="dir"/>; returns the files written, in order.</summary>
    public static IReadOnlyList<string> Save(GeneratedVideo video, string dir)
    {
        var full = Path.GetFullPath(dir);
        var parent = Path.GetDirectoryName(full.TrimEnd(Path.DirectorySeparatorChar));
        if (parent is not null && !Directory.Exists(parent)) throw new DirectoryNotFoundException($"{dir}: the folder {parent} does not exist");
        if (File.Exists(full)) throw new IOException($"{dir}: is a file, expected a folder for the frames");
        Directory.CreateDirectory(full);
        var files = new List<string>();
        for (int f = 0; f < video.FrameCount; f++)
        {
            var file = Path.Combine(full, FrameName(f));
            video.Frame(f).SavePng(file);
            files.Add(file);
        }
        return files;
    }
}
