// Writes tests/fixtures/tokenizers/reference.json: for each test string of strings.json, the ids the reference
// tokenizers give with the special tokens added and without truncation or padding.
//   clip: the Rust Hugging Face tokenizers (0.22, through Tokenizers.DotNet) on clip_json/tokenizer.json
//   t5:   the same library on t5_json/tokenizer.json
// and gemma_rust_reference.json / bert_rust_reference.json / umt5_rust_reference.json / qwen2_json_rust_reference.json:
// the same library on sana/tokenizer/tokenizer.json, bert_json/tokenizer.json, umt5_json/tokenizer.json and
// qwen2_json/tokenizer.json for gemma_strings.json / bert_strings.json / umt5_strings.json / qwen2_json_strings.json
// No reference here reads t5_spm/spiece.model (Microsoft.ML.Tokenizers 3.0.0's SentencePieceTokenizer.Create throws
// IndexOutOfRangeException on it: T5 has no BOS piece, bos_id -1); it holds the same pieces and scores as
// t5_json/tokenizer.json, so the tests hold its tokenizer to the t5 column.
// Usage: dotnet run --project tests/TokenizerOracle -- tests/fixtures/tokenizers
// The large tokenizer files are stored as NAME.gz (see that folder's README.md); they are restored to temporary files here.
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

string dir = args.Length > 0 ? args[0] : "tests/fixtures/tokenizers";
var strings = JsonSerializer.Deserialize<List<string>>(File.ReadAllText(Path.Combine(dir, "strings.json")))
    ?? throw new InvalidDataException($"{dir}/strings.json: not a JSON array of strings");

using var clip = new Tokenizers.DotNet.Tokenizer(Restored(Path.Combine(dir, "clip_json", "tokenizer.json")));
using var t5 = new Tokenizers.DotNet.Tokenizer(Restored(Path.Combine(dir, "t5_json", "tokenizer.json")));

var cases = new List<Dictionary<string, object>>();
foreach (var text in strings)
{
    cases.Add(new()
    {
        ["text"] = text,
        ["clip"] = clip.Encode(text).Select(x => (int)x).ToArray(),
        ["t5"] = t5.Encode(text).Select(x => (int)x).ToArray(),
    });
}
var doc = new Dictionary<string, object>
{
    ["generator"] = "tests/TokenizerOracle: Tokenizers.DotNet " + clip.GetVersion() + ", whose native library is Hugging Face tokenizers 0.22.2",
    ["cases"] = cases,
};
var options = new JsonSerializerOptions { WriteIndented = false, Encoder = JavaScriptEncoder.Create(UnicodeRanges.BasicLatin) };
using (var w = new StreamWriter(Path.Combine(dir, "reference.json")))
{
    // One case a line keeps the diffs of a changed string readable.
    w.WriteLine("{\"generator\": " + JsonSerializer.Serialize(doc["generator"], options) + ",");
    w.WriteLine(" \"cases\": [");
    for (int i = 0; i < cases.Count; i++)
        w.WriteLine("  " + JsonSerializer.Serialize(cases[i], options) + (i + 1 < cases.Count ? "," : ""));
    w.WriteLine(" ]}");
}
Console.WriteLine($"{cases.Count} strings written to {dir}/reference.json");

// Gemma (SANA's tokenizer/, written by make_gemma_reference.py) and BERT (bert_json/, BertTokenizerFast's layout, written
// by make_bert_reference.py): the same library on their tokenizer.json for each string of their strings file.
foreach (var (name, json, stringsFile) in new[] { ("gemma", "sana/tokenizer/tokenizer.json", "gemma_strings.json"), ("bert", "bert_json/tokenizer.json", "bert_strings.json"), ("umt5", "umt5_json/tokenizer.json", "umt5_strings.json"), ("qwen2_json", "qwen2_json/tokenizer.json", "qwen2_json_strings.json") })
{
    var jsonPath = Path.Combine(dir, json);
    var stringsPath = Path.Combine(dir, stringsFile);
    if (!File.Exists(jsonPath) || !File.Exists(stringsPath)) continue;
    using var tok = new Tokenizers.DotNet.Tokenizer(jsonPath);
    var texts = JsonSerializer.Deserialize<List<string>>(File.ReadAllText(stringsPath))
        ?? throw new InvalidDataException($"{stringsPath}: not a JSON array of strings");
    var outPath = Path.Combine(dir, $"{name}_rust_reference.json");
    using var w = new StreamWriter(outPath);
    w.WriteLine("{\"generator\": " + JsonSerializer.Serialize($"tests/TokenizerOracle: Tokenizers.DotNet {tok.GetVersion()} (Hugging Face tokenizers 0.22.2) on {json}", options) + ",");
    w.WriteLine(" \"cases\": [");
    for (int i = 0; i < texts.Count; i++)
    {
        var item = new Dictionary<string, object> { ["text"] = texts[i], ["ids"] = tok.Encode(texts[i]).Select(x => (int)x).ToArray() };
        w.WriteLine("  " + JsonSerializer.Serialize(item, options) + (i + 1 < texts.Count ? "," : ""));
    }
    w.WriteLine(" ]}");
    Console.WriteLine($"{texts.Count} {name} strings written to {outPath}");
}

// The file itself, or where it is stored as FILE.gz, a temporary copy decompressed.
static string Restored(string path)
{
    if (File.Exists(path) || !File.Exists(path + ".gz")) return path;
    var copy = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + "-" + Path.GetFileName(path));
    using var input = new System.IO.Compression.GZipStream(File.OpenRead(path + ".gz"), System.IO.Compression.CompressionMode.Decompress);
    using var output = File.Create(copy);
    input.CopyTo(output);
    return copy;
}
