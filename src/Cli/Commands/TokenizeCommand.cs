using System.CommandLine;
using System.Text.Json;
using XDit.Models.Tokenizers;

namespace XDit.Cli.Commands;

/// <summary>
/// `xdit tokenize DIR -p TEXT [--max-length N] [--json]`: the ids and tokens each tokenizer of a folder gives for a
/// prompt, special tokens included, with the length before truncation and what a limit would cut. DIR is one
/// tokenizer folder (tokenizer.json, vocab.json + merges.txt or spiece.model) or a pipeline folder whose tokenizer*/
/// subfolders are each shown, in name order.
/// </summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "a tokenizer folder or a diffusers pipeline folder with tokenizer*/ subfolders" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to tokenize", Required = true };
        var maxLength = new Option<int?>("--max-length") { Description = "Length to report truncation against [default: each tokenizer's model_max_length]" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text" };
        var command = new Command("tokenize", "Show the token ids each tokenizer of a pipeline gives for a prompt");
        command.Arguments.Add(dir);
        command.Options.Add(prompt);
        command.Options.Add(maxLength);
        command.Options.Add(json);
        command.SetAction(parseResult => CliErrors.Run(() =>
        {
            int? limit = parseResult.GetValue(maxLength);
            if (limit is < 1) throw new ArgumentException($"--max-length must be at least 1 (got {limit})");
            var results = Tokenize(parseResult.GetValue(dir)!, parseResult.GetValue(prompt)!, limit);
            if (parseResult.GetValue(json)) PrintJson(parseResult.GetValue(prompt)!, results, Console.Out);
            else PrintText(results, Console.Out);
            return 0;
        }));
        return command;
    }

    /// <summary>What one tokenizer gives for the prompt. <see cref="Limit"/> is the length it is cut to (null: none).</summary>
    public sealed record Result(string Name, string Path, string Kind, int? ModelMaxLength, int? Limit, IReadOnlyList<long> Ids, IReadOnlyList<string> Tokens)
    {
        public int Length => Ids.Count;
        public bool Truncated => Limit is { } l && Ids.Count > l;
    }

    public static List<Result> Tokenize(string dir, string prompt, int? maxLength)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: folder not found");
        var folders = IsTokenizerFolder(dir) ? [dir]
            : Directory.GetDirectories(dir, "tokenizer*").Where(IsTokenizerFolder).Order(StringComparer.Ordinal).ToList();
        if (folders.Count == 0)
            throw new FileNotFoundException($"{dir}: no tokenizer here (tokenizer.json, vocab.json + merges.txt, BERT's {BertTokenizerLoader.VocabFile}, {SentencePieceLoader.FileName} or {SentencePieceLoader.BpeFileName}) nor in a tokenizer*/ subfolder");
        var results = new List<Result>();
        foreach (var folder in folders)
        {
            var tokenizer = TokenizerLoader.Load(folder);
            if (tokenizer is not IInspectableTokenizer inspectable)
                throw new NotSupportedException($"{folder}: {tokenizer.GetType().Name} cannot list its tokens");
            var ids = inspectable.EncodeUntruncated(prompt);
            var tokens = ids.Select(id => inspectable.TokenOf(id) ?? $"<id {id}>").ToList();
            string kind = tokenizer switch
            {
                ClipTextTokenizer => "CLIP byte-level BPE",
                PipelineTokenizer { Model: WordPieceModel } when File.Exists(System.IO.Path.Combine(folder, BertTokenizerLoader.VocabFile)) => "BERT WordPiece (vocab.txt)",
                PipelineTokenizer { Model: BpeModel } when !File.Exists(System.IO.Path.Combine(folder, "tokenizer.json")) => $"SentencePiece BPE ({SentencePieceLoader.BpeFileName})",
                PipelineTokenizer when !File.Exists(System.IO.Path.Combine(folder, "tokenizer.json")) => "SentencePiece unigram (spiece.model)",
                PipelineTokenizer => "tokenizer.json",
                _ => tokenizer.GetType().Name,
            };
            results.Add(new Result(System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(folder)), folder, kind,
                tokenizer.ModelMaxLength, maxLength ?? tokenizer.ModelMaxLength, ids, tokens));
        }
        return results;
    }

    static bool IsTokenizerFolder(string dir)
        => File.Exists(System.IO.Path.Combine(dir, "tokenizer.json")) || SentencePieceLoader.ModelPath(dir) is not null
           || File.Exists(System.IO.Path.Combine(dir, BertTokenizerLoader.VocabFile))
           || (File.Exists(System.IO.Path.Combine(dir, "vocab.json")) && File.Exists(System.IO.Path.Combine(dir, "merges.txt")));

    // Tokens print as they are (CJK, emoji, the byte-table characters of CLIP), escaped only where JSON must.
    static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static void PrintText(List<Result> results, TextWriter w)
    {
        foreach (var r in results)
        {
            string limit = r.ModelMaxLength is { } m ? $", model_max_length {m}" : "";
            w.WriteLine($"{r.Name} ({r.Kind}{limit}): {r.Length} tokens");
            w.WriteLine($"  ids:    {string.Join(' ', r.Ids)}");
            w.WriteLine($"  tokens: {string.Join(' ', r.Tokens.Select(t => JsonSerializer.Serialize(t, Relaxed)))}");
            if (r.Truncated) w.WriteLine($"  truncated to {r.Limit}: {r.Length - r.Limit} tokens would be dropped (the last one kept is the end token)");
        }
    }

    static void PrintJson(string prompt, List<Result> results, TextWriter w)
    {
        var doc = new
        {
            prompt,
            tokenizers = results.Select(r => new
            {
                name = r.Name,
                path = r.Path,
                kind = r.Kind,
                model_max_length = r.ModelMaxLength,
                length = r.Length,
                max_length = r.Limit,
                truncated = r.Truncated,
                ids = r.Ids,
                tokens = r.Tokens,
            }),
        };
        w.WriteLine(JsonSerializer.Serialize(doc, new JsonSerializerOptions(Relaxed) { WriteIndented = true }));
    }
}
