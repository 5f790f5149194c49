using System.Buffers.Binary;
using System.Text;
using XDit.Runtime;
using Xunit.Sdk;

namespace XDit.Tests.Runtime;

/// <summary>
/// Seeded mutation fuzzing: valid small files from <see cref="SafetensorsWriter"/> get bits flipped, are truncated
/// or extended, or have header bytes, the header length, shapes and offsets overwritten. Opening the result and
/// reading every tensor must either succeed (every read inside the file) or throw SafetensorsFormatException —
/// never an IndexOutOfRange, Overflow, OutOfMemory, Argument, Json or any other exception.
/// </summary>
public class SafetensorsFuzzTests
{
    const int Cases = 3000;

    static byte[][] BaseFiles()
    {
        var rng = new Random(1);
        Tensor T(DType dt, params int[] shape) => SafetensorsRoundTripTests.RandomTensor(dt, shape, rng);
        return
        [
            SafetensorsWriter.ToBytes([new("a.weight", T(DType.F32, 2, 3)), new("a.bias", T(DType.F16, 3)), new("ids", T(DType.I64, 4))],
                new Dictionary<string, string> { ["format"] = "pt" }),
            SafetensorsWriter.ToBytes([new("x", T(DType.BF16, 1, 2, 2)), new("empty", T(DType.F32, 0, 5)), new("s", T(DType.U8))]),
            SafetensorsWriter.ToBytes([new("only", T(DType.I32, 5))]),
            SafetensorsWriter.ToBytes([]),
        ];
    }

    static readonly string[] Numbers = ["0", "1", "-1", "7", "24", "4294967296", "2147483648", "9223372036854775807", "18446744073709551615", "99999999999999999999999", "1.5", "1e3", "-0"];
    static readonly string[] Fragments = ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "[]", "{}", "\"F32\"", "\"__metadata__\"", "\\u0000", "\\ud800", "NaN"];

    static byte[] Mutate(byte[] file, Random rng)
    {
        var b = file.ToList();
        int n = rng.Next(1, 4);
        for (int k = 0; k < n; k++)
        {
            int headerLen = b.Count >= 8 ? (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(b.Take(8).ToArray()), (ulong)(b.Count - 8)) : 0;
            switch (rng.Next(8))
            {
                case 0: // flip a bit, mostly in the length or header
                    if (b.Count == 0) break;
                    int at = rng.Next(3) > 0 ? rng.Next(Math.Min(b.Count, 8 + headerLen + 1)) : rng.Next(b.Count);
                    b[at] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1: // truncate
                {
                    int keep = rng.Next(b.Count + 1);
                    b.RemoveRange(keep, b.Count - keep);
                    break;
                }
                case 2: // extend
                    for (int i = rng.Next(1, 64); i > 0; i--) b.Add((byte)rng.Next(256));
                    break;
                case 3: // overwrite the header length
                {
                    if (b.Count < 8) break;
                    ulong[] choices = [0, 1, 2, (ulong)headerLen + 1, (ulong)headerLen - 1, (ulong)b.Count, 100_000_000, 100_000_001, ulong.MaxValue, 1UL << 63, (ulong)rng.NextInt64()];
                    var len = new byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(len, choices[rng.Next(choices.Length)]);
                    for (int i = 0; i < 8; i++) b[i] = len[i];
                    break;
                }
                case 4: // overwrite one header byte with a JSON-significant character
                    if (headerLen == 0) break;
                    b[8 + rng.Next(headerLen)] = (byte)"{}[],:\"0123456789-.eE \\x"[rng.Next(24)];
                    break;
                default: // replace a number or insert a fragment in the header, keeping the length field right
                {
                    if (headerLen == 0) break;
                    var text = Encoding.UTF8.GetString(b.GetRange(8, headerLen).ToArray());
                    string edited;
                    var digits = Enumerable.Range(0, text.Length).Where(i => char.IsDigit(text[i]) && (i == 0 || !char.IsDigit(text[i - 1]))).ToArray();
                    if (rng.Next(2) == 0 && digits.Length > 0)
                    {
                        int s = digits[rng.Next(digits.Length)], e = s;
                        while (e < text.Length && char.IsDigit(text[e])) e++;
                        edited = text[..s] + Numbers[rng.Next(Numbers.Length)] + text[e..];
                    }
                    else
                    {
                        int s = rng.Next(text.Length + 1);
                        edited = rng.Next(2) == 0
                            ? text[..s] + Fragments[rng.Next(Fragments.Length)] + text[s..]
                            : text[..s] + text[Math.Min(text.Length, s + rng.Next(1, 6))..];
                    }
                    var header = Encoding.UTF8.GetBytes(edited);
                    var rebuilt = new byte[8 + header.Length];
                    BinaryPrimitives.WriteUInt64LittleEndian(rebuilt, (ulong)header.Length);
                    header.CopyTo(rebuilt, 8);
                    var rest = b.Skip(8 + headerLen).ToArray();
                    b = [.. rebuilt, .. rest];
                    break;
                }
            }
        }
        return b.ToArray();
    }

    /// <summary>Rewrites the file in place. (Replacing it each time costs milliseconds per case on a disk mounted
    /// with online discard; overwriting a few hundred bytes and truncating the tail does not.)</summary>
    static void Overwrite(string path, byte[] bytes)
    {
        using var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None);
        fs.Write(bytes);
        fs.SetLength(bytes.Length);
    }

    [Fact]
    public void MutatedFilesOpenOrFailWithFormatErrorsOnly()
    {
        var bases = BaseFiles();
        var rng = new Random(20240611);
        var path = Path.Combine(TestPaths.TempDir(), "fuzz.safetensors");
        int accepted = 0, rejected = 0;
        for (int c = 0; c < Cases; c++)
        {
            var bytes = Mutate(bases[c % bases.Length], rng);
            Overwrite(path, bytes);
            try
            {
                using var f = new SafetensorsFile(path);
                foreach (var name in f.Names)
                {
                    var info = f.Info(name);
                    Assert.True(f.DataStart + info.End <= bytes.Length, $"case {c}: '{name}' ends past the file");
                    using var t = f.Read(name);
                    Assert.Equal(info.ByteLength, ((HostStorage)t.Storage).Bytes.Length);
                    Assert.True(f.GetBytes(name).SequenceEqual(bytes.AsSpan((int)(f.DataStart + info.Begin), (int)info.ByteLength)));
                    using var _ = f.ReadF32(name);
                }
                accepted++;
            }
            catch (SafetensorsFormatException e)
            {
                Assert.Contains(path, e.Message);
                rejected++;
            }
            catch (Exception e) when (e is not XunitException)
            {
                throw new XunitException($"case {c}: {e.GetType().Name} escaped for a mutated file (bytes: {Convert.ToHexString(bytes)}): {e}");
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{accepted} mutated files opened and read, {rejected} rejected");
        // Both outcomes must be common, or the mutations are not exercising the reader.
        Assert.True(accepted > Cases / 20, $"only {accepted} of {Cases} mutated files opened");
        Assert.True(rejected > Cases / 4, $"only {rejected} of {Cases} mutated files were rejected");
    }
}
