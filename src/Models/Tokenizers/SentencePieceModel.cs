using System.Buffers.Binary;
using System.Text;

namespace XDit.Models.Tokenizers;

/// <summary>The kinds of a SentencePiece piece (sentencepiece_model.proto, SentencePiece.Type).</summary>
public enum SentencePieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>
/// The parts of a SentencePiece model file (spiece.model, a ModelProto in protobuf's wire format) a tokenizer needs:
/// the pieces with scores and types; the trainer spec's model type, byte_fallback and special ids; the normaliser
/// spec's name, precompiled character map and whitespace flags. Fields are read by number; the others (self-test
/// data, the denormaliser, the trainer's many options) are skipped.
/// </summary>
public sealed class SentencePieceModel
{
    public List<(string Piece, float Score, SentencePieceType Type)> Pieces { get; } = [];
    /// <summary>TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char.</summary>
    public int ModelType { get; private set; } = 1;
    public bool ByteFallback { get; private set; }
    // TrainerSpec's defaults when a field is absent.
    public int UnkId { get; private set; }
    public int BosId { get; private set; } = 1;
    public int EosId { get; private set; } = 2;
    public int PadId { get; private set; } = -1;
    public string NormalizerName { get; private set; } = "";
    public byte[] PrecompiledCharsMap { get; private set; } = [];
    public bool AddDummyPrefix { get; private set; } = true;
    public bool RemoveExtraWhitespaces { get; private set; } = true;
    public bool EscapeWhitespaces { get; private set; } = true;
    public string Source { get; }

    SentencePieceModel(string source) => Source = source;

    public static SentencePieceModel Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: SentencePiece model not found", path);
        return Parse(TokenizerFile.ReadAllBytes(path), path);
    }

    public static SentencePieceModel Parse(byte[] bytes, string source = "<spiece.model>")
    {
        var model = new SentencePieceModel(source);
        try
        {
            var r = new Reader(bytes, 0, bytes.Length, source);
            while (r.Next(out int field, out int wire))
            {
                switch (field)
                {
                    case 1 when wire == 2: model.ReadPiece(r.Message()); break;
                    case 2 when wire == 2: model.ReadTrainerSpec(r.Message()); break;
                    case 3 when wire == 2: model.ReadNormalizerSpec(r.Message()); break;
                    default: r.Skip(wire); break;
                }
            }
        }
        catch (ArgumentOutOfRangeException e) { throw new FormatException($"{source}: truncated protobuf: {e.Message}", e); }
        if (model.Pieces.Count == 0) throw new FormatException($"{source}: not a SentencePiece model (no pieces; {bytes.Length} bytes)");
        return model;
    }

    void ReadPiece(Reader r)
    {
        string piece = "";
        float score = 0;
        var type = SentencePieceType.Normal;
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: piece = r.String(); break;
                case 2 when wire == 5: score = r.Float(); break;
                case 3 when wire == 0: type = (SentencePieceType)(int)r.Varint(); break;
                default: r.Skip(wire); break;
            }
        }
        Pieces.Add((piece, score, type));
    }

    void ReadTrainerSpec(Reader r)
    {
        while (r.Next(out int field, out int wire))
        {
            if (wire != 0) { r.Skip(wire); continue; }
            long v = (long)r.Varint();   // int32 fields: negative values are sign-extended to 64 bits
            switch (field)
            {
                case 3: ModelType = (int)v; break;
                case 35: ByteFallback = v != 0; break;
                case 40: UnkId = (int)v; break;
                case 41: BosId = (int)v; break;
                case 42: EosId = (int)v; break;
                case 43: PadId = (int)v; break;
            }
        }
    }

    void ReadNormalizerSpec(Reader r)
    {
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: NormalizerName = r.String(); break;
                case 2 when wire == 2: PrecompiledCharsMap = r.Bytes(); break;
                case 3 when wire == 0: AddDummyPrefix = r.Varint() != 0; break;
                case 4 when wire == 0: RemoveExtraWhitespaces = r.Varint() != 0; break;
                case 5 when wire == 0: EscapeWhitespaces = r.Varint() != 0; break;
                default: r.Skip(wire); break;
            }
        }
    }

    /// <summary>Protobuf wire format over one message's bytes.</summary>
    sealed class Reader(byte[] data, int start, int end, string source)
    {
        int _pos = start;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_pos >= end) return false;
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= end) throw new FormatException($"{source}: a varint runs past its message at byte {_pos}");
                byte b = data[_pos++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
            throw new FormatException($"{source}: a varint longer than 10 bytes at byte {_pos}");
        }

        int Length()
        {
            ulong n = Varint();
            if (n > (ulong)(end - _pos)) throw new FormatException($"{source}: a field of {n} bytes at byte {_pos} runs past its message ({end - _pos} bytes left)");
            return (int)n;
        }

        public Reader Message() { int n = Length(); var r = new Reader(data, _pos, _pos + n, source); _pos += n; return r; }
        public string String() { int n = Length(); var s = Encoding.UTF8.GetString(data, _pos, n); _pos += n; return s; }
        public byte[] Bytes() { int n = Length(); var b = data.AsSpan(_pos, n).ToArray(); _pos += n; return b; }

        public float Float()
        {
            if (end - _pos < 4) throw new FormatException($"{source}: a float runs past its message at byte {_pos}");
            float f = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(_pos, 4));
            _pos += 4;
            return f;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Advance(Length()); break;
                case 5: Advance(4); break;
                default: throw new FormatException($"{source}: protobuf wire type {wire} at byte {_pos} (expected 0, 1, 2 or 5)");
            }
        }

        void Advance(int n)
        {
            if (n > end - _pos) throw new FormatException($"{source}: a field runs past its message at byte {_pos}");
            _pos += n;
        }
    }
}
