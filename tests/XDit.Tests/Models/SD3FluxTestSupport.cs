using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;
using System.Text;
using System.Text.Json;

namespace XDit.Tests.Models;

/// <summary>LocalAttention that also records the shape of each call (for checking what models hand the
/// parallel executors).</summary>
sealed class JointAttentionRecorder : IAttention
{
    public sealed record Call(string Layer, AttentionKind Kind, int[] Q, int[] K, int[] V, int[]? JointQ, int[]? JointK, int[]? JointV, bool JointFirst);

    public List<Call> Calls { get; } = new();

    public AttentionResult Run(IOps ops, AttentionCall call)
    {
        Calls.Add(new Call(call.Layer, call.Kind, call.Q.Dims, call.K.Dims, call.V.Dims,
            call.JointQ?.Dims, call.JointK?.Dims, call.JointV?.Dims, call.JointFirst));
        return LocalAttention.Instance.Run(ops, call);
    }
}

/// <summary>Writes float32 tensors as a safetensors file (for tests that need edited checkpoints).</summary>
static class F32SafetensorsWriter
{
    public static void Write(string path, IReadOnlyDictionary<string, (int[] Shape, float[] Data)> tensors)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        foreach (var name in names)
        {
            var (shape, data) = tensors[name];
            long bytes = data.LongLength * 4;
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)json.Length));
        f.Write(json);
        foreach (var name in names)
        {
            var data = tensors[name].Data;
            var buf = new byte[data.Length * 4];
            Buffer.BlockCopy(data, 0, buf, 0, buf.Length);
            f.Write(buf);
        }
    }
}
