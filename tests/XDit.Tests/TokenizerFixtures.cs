using System.IO.Compression;
using System.Security.Cryptography;

namespace XDit.Tests;

/// <summary>
/// tests/fixtures/tokenizers with its large files stored gzip-compressed (`NAME.gz`: CLIP's vocab.json, merges.txt and
/// tokenizer.json, T5's tokenizer.json and spiece.model, 7.0 MB → 2.1 MB), because what travels to a lent GPU machine
/// is capped at 64 MiB. The pipeline fixtures' and the Hub-shaped folders' links point at the `.gz` files under the
/// plain names, which the engine reads through <see cref="XDit.Models.Tokenizers.TokenizerFile"/>.
/// <see cref="Dir"/> is a copy of that folder in which every `NAME.gz` is `NAME` again, byte for byte the file the Hub
/// ships (and every link points at it), so the tokenizers are tested on the real formats. The copy sits under the temporary folder, named by a hash of the stored files: made once,
/// shared by the test processes and the `xdit` processes they start, never written into the repository.
/// </summary>
public static class TokenizerFixtures
{
    static readonly Lazy<string> Materialized = new(Materialize);

    /// <summary>The tokenizer fixture folder with every compressed file restored.</summary>
    public static string Dir => Materialized.Value;

    /// <summary>One subfolder of <see cref="Dir"/> (e.g. "t5_spm").</summary>
    public static string Folder(string name) => Path.Combine(Dir, name);

    static string Stored => TestPaths.Fixture("tokenizers");

    static string Materialize()
    {
        var files = Directory.GetFiles(Stored, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in files)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetRelativePath(Stored, f) + "\n"));
            var link = new FileInfo(f).LinkTarget;
            hash.AppendData(link is null ? File.ReadAllBytes(f) : System.Text.Encoding.UTF8.GetBytes(link));
        }
        var target = Path.Combine(Path.GetTempPath(), "xdit-tokenizer-fixtures", Convert.ToHexString(hash.GetHashAndReset())[..16]);
        if (Directory.Exists(target)) return target;
        // written beside the target and moved into place, so a concurrent process never sees half a folder
        var staging = target + "." + Guid.NewGuid().ToString("N");
        foreach (var f in files)
        {
            var rel = Path.GetRelativePath(Stored, f);
            var gz = rel.EndsWith(".gz", StringComparison.Ordinal);
            var dest = Path.Combine(staging, gz ? rel[..^3] : rel);
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            // the Hub-shaped folders (hunyuandit/, sdxl/) link to the large files: linked again, to the restored ones
            var link = new FileInfo(f).LinkTarget;
            if (link is not null) { File.CreateSymbolicLink(dest, link.EndsWith(".gz", StringComparison.Ordinal) ? link[..^3] : link); continue; }
            if (!gz) { File.Copy(f, dest); continue; }
            using var input = new GZipStream(File.OpenRead(f), CompressionMode.Decompress);
            using var output = File.Create(dest);
            input.CopyTo(output);
        }
        try { Directory.Move(staging, target); }
        catch (IOException) when (Directory.Exists(target)) { Directory.Delete(staging, recursive: true); }
        return target;
    }
}
