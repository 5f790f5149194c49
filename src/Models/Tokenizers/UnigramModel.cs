using System.Text.Json;

namespace XDit.Models.Tokenizers;

/// <summary>
/// SentencePiece's unigram model as tokenizer.json stores it ("Unigram": vocab of [piece, log-probability],
/// unk_id): a word is split into the pieces of highest total score (Viterbi). A character no piece covers becomes
/// the unknown piece with score min_score − 10, and consecutive unknowns fuse into one, as in tokenizers. With
/// byte_fallback (umT5's tokenizer, Wan's) a fused unknown run is spelled by the byte pieces &lt;0xXX&gt; of its UTF-8
/// instead, where the vocabulary has all of them (else it stays the unknown piece), as tokenizers does.
/// </summary>
public sealed class UnigramModel : ITokenModel
{
    const double UnkPenalty = 10.0;
    readonly Dictionary<string, (long Id, double Score)> _pieces = new(StringComparer.Ordinal);
    readonly string[] _byId;
    readonly int _maxPieceLength;
    readonly long _unkId;
    readonly double _unkScore;
    readonly bool _byteFallback;

    public UnigramModel(IReadOnlyList<(string Piece, double Score)> vocab, long unkId, bool byteFallback = false)
    {
        _byteFallback = byteFallback;
        if (unkId < 0 || unkId >= vocab.Count) throw new ArgumentOutOfRangeException(nameof(unkId), $"unk_id {unkId} is outside the vocabulary of {vocab.Count}");
        double min = double.MaxValue;
        _byId = new string[vocab.Count];
        for (int i = 0; i < vocab.Count; i++)
        {
            var (piece, score) = vocab[i];
            _byId[i] = piece;
            _pieces.TryAdd(piece, (i, score));
            _maxPieceLength = Math.Max(_maxPieceLength, piece.Length);
            min = Math.Min(min, score);
        }
        _unkId = unkId;
        _unkScore = min - UnkPenalty;
    }

    public static UnigramModel FromJson(JsonElement m, string path)
    {
        bool byteFallback = m.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        var vocab = new List<(string, double)>();
        foreach (var e in m.GetProperty("vocab").EnumerateArray())
            vocab.Add((e[0].GetString()!, e[1].GetDouble()));
        if (!m.TryGetProperty("unk_id", out var u) || u.ValueKind != JsonValueKind.Number)
            throw new FormatException($"{path}: Unigram model without unk_id");
        return new UnigramModel(vocab, u.GetInt64(), byteFallback);
    }

    public long? TokenToId(string token) => _pieces.TryGetValue(token, out var p) ? p.Id : null;
    public string? IdToToken(long id) => id >= 0 && id < _byId.Length ? _byId[id] : null;

    public void Tokenize(string word, List<long> ids)
    {
        int n = word.Length;
        var best = new double[n + 1];
        var from = new int[n + 1];
        var piece = new long[n + 1];   // id of the piece ending at i, or -1 for unknown
        Array.Fill(best, double.NegativeInfinity);
        best[0] = 0;
        for (int i = 0; i < n; i++)
        {
            if (double.IsNegativeInfinity(best[i])) continue;
            bool single = false;
            for (int len = 1; len <= _maxPieceLength && i + len <= n; len++)
            {
                if (!_pieces.TryGetValue(word.Substring(i, len), out var p)) continue;
                if (len == CharLength(word, i)) single = true;
                double s = best[i] + p.Score;
                if (s > best[i + len]) { best[i + len] = s; from[i + len] = i; piece[i + len] = p.Id; }
            }
            if (!single)
            {
                int len = CharLength(word, i);
                double s = best[i] + _unkScore;
                if (s > best[i + len]) { best[i + len] = s; from[i + len] = i; piece[i + len] = -1; }
            }
        }
        var path = new List<(long Id, int Start, int End)>();
        for (int i = n; i > 0; i = from[i]) path.Add((piece[i], from[i], i));
        path.Reverse();
        int unkStart = -1, unkEnd = -1;   // the fused unknown run not yet emitted
        foreach (var (id, start, end) in path)
        {
            if (id < 0 || id == _unkId)
            {
                if (unkStart < 0) unkStart = start;
                unkEnd = end;
                continue;
            }
            if (unkStart >= 0) EmitUnknown(word[unkStart..unkEnd], ids);
            unkStart = -1;
            ids.Add(id);
        }
        if (unkStart >= 0) EmitUnknown(word[unkStart..unkEnd], ids);
    }

    /// <summary>A fused unknown run: its UTF-8 byte pieces with byte_fallback when all are in the vocabulary, else
    /// the unknown piece. (A run that is the unknown piece's own text, "&lt;unk&gt;", is in the vocabulary and so
    /// stays that piece, as in tokenizers.)</summary>
    void EmitUnknown(string run, List<long> ids)
    {
        if (_byteFallback && !_pieces.ContainsKey(run))
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(run);
            var byteIds = new long[bytes.Length];
            bool all = true;
            for (int i = 0; i < bytes.Length && all; i++)
            {
                all = _pieces.TryGetValue($"<0x{bytes[i]:X2}>", out var p);
                byteIds[i] = p.Id;
            }
            if (all)
            {
                ids.AddRange(byteIds);
                return;
            }
        }
        ids.Add(_unkId);
    }

    /// <summary>UTF-16 units of the character at <paramref name="i"/> (2 for a surrogate pair).</summary>
    static int CharLength(string s, int i) => char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
}
