using System.IO.Compression;
using System.Text;
using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

/// <summary>
/// Tokenizer files stored gzip-compressed under their own names (<see cref="TokenizerFile"/>): the pipeline fixtures'
/// tokenizer folders link to the compressed copies in tests/fixtures/tokenizers, and must give the ids their plain
/// files give; a plain file reads unchanged, a broken one names itself.
/// </summary>
public class TokenizerFileTests
{
    /// <summary>Every pipeline fixture tokenizer folder whose files link to a compressed copy, as stored, against a copy
    /// with every file plain (decompressed here, not by the engine), on every string of strings.json.</summary>
    [Theory]
    [InlineData("pipe_sd3/tokenizer")]      // CLIP vocab.json + merges.txt
    [InlineData("pipe_sd3/tokenizer_3")]    // T5 tokenizer.json (beside spiece.model)
    [InlineData("pipe_flux/tokenizer_2")]
    [InlineData("pipe_pixart_sigma/tokenizer")]   // spiece.model alone
    public void ALinkedCompressedFolderGivesThePlainFilesIds(string folder)
    {
        var stored = TestPaths.Fixture(folder);
        var linked = Directory.GetFiles(stored).Where(f => new FileInfo(f).LinkTarget?.EndsWith(".gz", StringComparison.Ordinal) == true).ToList();
        Assert.True(linked.Count > 0, $"{stored}: no file links to a .gz copy, so nothing here reads a compressed file");
        var plain = TestPaths.TempDir();
        foreach (var f in Directory.GetFiles(stored))
        {
            using var input = File.OpenRead(f);   // follows the link
            using var output = File.Create(Path.Combine(plain, Path.GetFileName(f)));
            if (linked.Contains(f)) new GZipStream(input, CompressionMode.Decompress).CopyTo(output);
            else input.CopyTo(output);
        }
        var strings = JsonSerializer.Deserialize<List<string>>(File.ReadAllText(Path.Combine(TokenizerFixtures.Dir, "strings.json")))!;
        var fromStored = Assert.IsAssignableFrom<IInspectableTokenizer>(TokenizerLoader.Load(stored));
        var fromPlain = Assert.IsAssignableFrom<IInspectableTokenizer>(TokenizerLoader.Load(plain));
        Assert.True(strings.Count >= 68);
        foreach (var s in strings)
            Assert.Equal(fromPlain.EncodeUntruncated(s).ToArray(), fromStored.EncodeUntruncated(s).ToArray());
        Directory.Delete(plain, recursive: true);
    }

    [Fact]
    public void APlainFileReadsUnchangedAndAGzipOneDecompressed()
    {
        var dir = TestPaths.TempDir();
        var text = "{\"a\": 1, \"é\": 2}\n";
        var plain = Path.Combine(dir, "vocab.json");
        File.WriteAllText(plain, text);
        var packed = Path.Combine(dir, "packed.json");
        using (var gz = new GZipStream(File.Create(packed), CompressionLevel.SmallestSize)) gz.Write(Encoding.UTF8.GetBytes(text));
        Assert.Equal(0x1f, File.ReadAllBytes(packed)[0]);
        Assert.Equal(File.ReadAllBytes(plain), TokenizerFile.ReadAllBytes(plain));
        Assert.Equal(text, TokenizerFile.ReadAllText(plain));
        Assert.Equal(text, TokenizerFile.ReadAllText(packed));
        Assert.Equal(Encoding.UTF8.GetBytes(text), TokenizerFile.ReadAllBytes(packed));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void ABrokenGzipFileIsNamed()
    {
        var dir = TestPaths.TempDir();
        var path = Path.Combine(dir, "spiece.model");
        // the real spiece.model compressed, then cut in half: GZipStream alone would return a prefix without a word
        var whole = File.ReadAllBytes(Path.Combine(TestPaths.Fixture("tokenizers"), "t5_spm", "spiece.model.gz"));
        foreach (var bytes in new[] { whole[..(whole.Length / 2)], whole[..10], [0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03] })
        {
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<InvalidDataException>(() => SentencePieceModel.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("gzip", e.Message);
        }
        File.WriteAllBytes(path, whole);
        Assert.Equal(32000, SentencePieceModel.Load(path).Pieces.Count);
        Directory.Delete(dir, recursive: true);
    }
}
