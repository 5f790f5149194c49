using System.Text;
using System.Text.RegularExpressions;
using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;
using XDit.Engine.Serving;
using XDit.Models.PixArt;
using XDit.Models.T5;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Tests.Robustness;

/// <summary>
/// Seeded mutation fuzzing of what users and clients hand in (issue 22): POST /generate bodies, the demo model's
/// config.json, scheduler_config.json, model_index.json and tokenizer files get numbers replaced by extreme or wrong-typed values,
/// bytes flipped, cut or inserted. Each must be accepted or refused with the refusal each reader promises
/// (ServeRequestException naming a field or the body; FormatException, NotSupportedException or
/// KeyNotFoundException naming the file) — never an overflow, index, null or cast exception.
/// </summary>
public partial class InputFuzzTests
{
    const int Cases = 1500;

    static readonly string[] Values =
        ["0", "-1", "1", "2147483647", "2147483648", "-2147483649", "1e308", "1e999", "-1e308", "1.5", "NaN", "Infinity", "-Infinity",
         "null", "true", "\"x\"", "\"\"", "\"\\ud800\"", "[]", "{}", "[1,2]", "99999999999999999999999", "4096", "100000"];

    [GeneratedRegex("-?[0-9][0-9.eE+-]*|\"[^\"]*\"|true|false|null")]
    private static partial Regex Scalar();

    /// <summary>Replaces a few JSON scalars with extreme values, then sometimes damages the text itself.</summary>
    static string Mutate(string json, Random rng)
    {
        var scalars = Scalar().Matches(json).ToList();
        var sb = new StringBuilder(json);
        foreach (var m in scalars.Where(_ => rng.Next(4) == 0).OrderByDescending(m => m.Index))
            sb.Remove(m.Index, m.Length).Insert(m.Index, Values[rng.Next(Values.Length)]);
        switch (rng.Next(6))
        {
            case 0: if (sb.Length > 1) sb.Remove(rng.Next(sb.Length), 1); break;
            case 1: sb.Insert(rng.Next(sb.Length + 1), "{}[],:\"\\"[rng.Next(8)]); break;
            case 2: sb.Length = rng.Next(sb.Length + 1); break;
        }
        return sb.ToString();
    }

    static void Expect(Action read, string input, params Type[] allowed)
    {
        try { read(); }
        catch (Exception e) when (!allowed.Contains(e.GetType()))
        {
            Assert.Fail($"{e.GetType().Name}: {e.Message}\ninput: {input}");
        }
        catch (Exception) { }
    }

    [Fact]
    public void GenerateBodiesAreServedOrRefusedWithA400()
    {
        string[] bodies =
        [
            """{"prompt":"a cat","negative_prompt":"blur","num_inference_steps":7,"guidance_scale":3.25,"seed":123,"height":48,"width":32,"num_images_per_prompt":2}""",
            """{"prompt":"x","cfg":6.5,"output_type":"png_base64"}""",
            """{"prompt":"x","output_type":"path","save_disk_path":"a/b"}""",
        ];
        var outputDir = TestPaths.TempDir();
        var rng = new Random(22);
        for (int i = 0; i < Cases; i++)
        {
            var body = Mutate(bodies[i % bodies.Length], rng);
            // Latin-1 now and then: bytes that are not UTF-8
            var bytes = rng.Next(8) == 0 ? Encoding.Latin1.GetBytes(body.Replace("a cat", "\u00ff\u00fe")) : Encoding.UTF8.GetBytes(body);
            Expect(() => ServeRequest.Parse(bytes, 8, outputDir: outputDir), body, typeof(ServeRequestException));
        }
    }

    [Fact]
    public void ConfigFilesAreReadOrRefusedNamingTheFile()
    {
        var demo = TestPaths.DemoModel;
        (string File, Action<JsonConfig> Read)[] readers =
        [
            ("transformer/config.json", c => PixArtConfig.From(c)),
            ("text_encoder/config.json", c => T5Config.From(c)),
            ("vae/config.json", c => AutoencoderKLConfig.From(c)),
            ("scheduler/scheduler_config.json", c => SchedulerFactory.FromConfig(c)),
        ];
        var rng = new Random(21);
        for (int i = 0; i < Cases; i++)
        {
            var (file, read) = readers[i % readers.Length];
            var text = Mutate(File.ReadAllText(Path.Combine(demo, file)), rng);
            Expect(() => read(JsonConfig.Parse(text, file)), text, typeof(FormatException), typeof(NotSupportedException), typeof(KeyNotFoundException));
        }
    }

    [Fact]
    public void ModelIndexFilesAreReadOrRefusedNamingTheFile()
    {
        var original = File.ReadAllText(Path.Combine(TestPaths.DemoModel, "model_index.json"));
        var dir = TestPaths.TempDir();
        var rng = new Random(23);
        for (int i = 0; i < 300; i++)
        {
            var text = Mutate(original, rng);
            File.WriteAllText(Path.Combine(dir, "model_index.json"), text);
            Expect(() => ModelIndex.Load(dir), text, typeof(FormatException), typeof(NotSupportedException), typeof(KeyNotFoundException),
                typeof(DirectoryNotFoundException), typeof(FileNotFoundException));
        }
    }

    /// <summary>Tokenizer folders with damaged files: the demo's tokenizer.json and tokenizer_config.json mutated as
    /// JSON, T5's spiece.model (a protobuf) with bytes flipped, cut or inserted. Each loads and encodes, or is refused
    /// naming the file (FormatException, NotSupportedException, InvalidDataException).</summary>
    [Fact]
    public void TokenizerFilesAreReadOrRefusedNamingTheFile()
    {
        var rng = new Random(24);
        var demo = Path.Combine(TestPaths.DemoModel, "tokenizer");
        var dir = TestPaths.TempDir();
        string[] files = ["tokenizer.json", "tokenizer_config.json"];
        for (int i = 0; i < 400; i++)
        {
            foreach (var f in files) File.Copy(Path.Combine(demo, f), Path.Combine(dir, f), overwrite: true);
            var file = files[i % files.Length];
            var text = Mutate(File.ReadAllText(Path.Combine(demo, file)), rng);
            File.WriteAllText(Path.Combine(dir, file), text);
            Expect(() => XDit.Models.Tokenizers.TokenizerLoader.Load(dir).Encode(["a red circle", "碗 ▁ </s>"], 16), $"{file}: {text}",
                typeof(FormatException), typeof(NotSupportedException), typeof(InvalidDataException));
        }

        var spm = TokenizerFixtures.Folder("t5_spm");
        var model = File.ReadAllBytes(Path.Combine(spm, "spiece.model"));
        var spmDir = TestPaths.TempDir();
        foreach (var f in Directory.GetFiles(spm)) File.Copy(f, Path.Combine(spmDir, Path.GetFileName(f)));
        for (int i = 0; i < 60; i++)
        {
            var bytes = model.ToList();
            int at = rng.Next(Math.Min(bytes.Count, 4096));   // the header and the first pieces: lengths and tags live there
            switch (i % 3)
            {
                case 0: for (int k = 0; k < 4; k++) bytes[rng.Next(Math.Min(bytes.Count, 4096))] = (byte)rng.Next(256); break;
                case 1: { int start = rng.Next(bytes.Count); bytes.RemoveRange(start, Math.Min(1 + rng.Next(64), bytes.Count - start)); break; }
                case 2: bytes.RemoveRange(at, bytes.Count - at); break;
            }
            File.WriteAllBytes(Path.Combine(spmDir, "spiece.model"), bytes.ToArray());
            Expect(() => XDit.Models.Tokenizers.TokenizerLoader.Load(spmDir).Encode(["a red circle", "Grüße"], 16), $"spiece.model case {i}",
                typeof(FormatException), typeof(NotSupportedException), typeof(InvalidDataException));
        }
    }
}
