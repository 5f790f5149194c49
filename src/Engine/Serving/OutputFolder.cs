namespace XDit.Engine.Serving;

/// <summary>
/// Where a request's save_disk_path may point: only inside the folder the service was started with (`xdit serve
/// --output-dir`). An absolute path, a `..` that climbs out, or a symbolic link on the way is refused, so no request
/// can write a file anywhere else the service's user may write. Missing folders under the root are created.
/// </summary>
public static class OutputFolder
{
    const string Field = "save_disk_path";

    /// <summary>The full path of the folder to write into, or a ServeRequestException naming save_disk_path.</summary>
    /// <param name="root">the service's output folder, or null when it writes no files</param>
    /// <param name="requested">the request's save_disk_path, relative to the root (null or "" is the root itself)</param>
    public static string Resolve(string? root, string? requested)
    {
        if (root is null)
            throw new ServeRequestException(Field, "this service writes no files: start it with --output-dir DIR to allow output_type \"path\"");
        var rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        if (string.IsNullOrEmpty(requested)) return Ensure(rootFull, rootFull, "");
        if (requested.Contains('\0')) throw new ServeRequestException(Field, "save_disk_path must not hold a NUL character");
        if (Path.IsPathRooted(requested))
            throw new ServeRequestException(Field, $"save_disk_path must be a folder relative to the service's output folder, got the absolute path \"{requested}\"");
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(rootFull, requested)));
        if (full != rootFull && !full.StartsWith(rootFull + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ServeRequestException(Field, $"save_disk_path \"{requested}\" leads outside the service's output folder");
        return Ensure(rootFull, full, requested);
    }

    /// <summary>Refuses a symbolic link at any level below the root (it could point anywhere), then creates what is missing.</summary>
    static string Ensure(string rootFull, string full, string requested)
    {
        if (!Directory.Exists(rootFull)) throw new ServeRequestException(Field, $"the service's output folder {rootFull} does not exist");
        var path = rootFull;
        foreach (var part in Path.GetRelativePath(rootFull, full).Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            path = Path.Combine(path, part);
            var info = new DirectoryInfo(path);
            if (info.LinkTarget is not null)
                throw new ServeRequestException(Field, $"save_disk_path \"{requested}\" passes through the symbolic link {path}; links are not followed");
            if (File.Exists(path)) throw new ServeRequestException(Field, $"save_disk_path \"{requested}\": {path} is a file, not a folder");
        }
        try { Directory.CreateDirectory(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServeRequestException(Field, $"save_disk_path \"{requested}\": cannot create {full}: {e.Message}");
        }
        return full;
    }
}
