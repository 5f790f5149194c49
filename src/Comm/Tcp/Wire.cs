using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace XDit.Comm.Tcp;

/// <summary>Little-endian primitives over a blocking stream; every read is exact or throws
/// <see cref="EndOfStreamException"/> (the peer closed the connection).</summary>
static class Wire
{
    public static void WriteInt(Stream s, int v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, v);
        s.Write(b);
    }

    public static void WriteLong(Stream s, long v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        s.Write(b);
    }

    public static int ReadInt(Stream s)
    {
        Span<byte> b = stackalloc byte[4];
        s.ReadExactly(b);
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    public static long ReadLong(Stream s)
    {
        Span<byte> b = stackalloc byte[8];
        s.ReadExactly(b);
        return BinaryPrimitives.ReadInt64LittleEndian(b);
    }

    public static byte ReadByte(Stream s)
    {
        int b = s.ReadByte();
        if (b < 0) throw new EndOfStreamException();
        return (byte)b;
    }

    public static void WriteBytes(Stream s, ReadOnlySpan<byte> bytes)
    {
        WriteInt(s, bytes.Length);
        s.Write(bytes);
    }

    /// <summary>A length-prefixed blob; <paramref name="max"/> guards against reading garbage as a huge length.</summary>
    public static byte[] ReadBytes(Stream s, int max = 1 << 20)
    {
        int n = ReadInt(s);
        if (n < 0 || n > max) throw new InvalidDataException($"a blob of {n} bytes (at most {max} expected): not an XDit peer");
        var b = new byte[n];
        s.ReadExactly(b);
        return b;
    }

    public static void WriteString(Stream s, string v) => WriteBytes(s, Encoding.UTF8.GetBytes(v));
    public static string ReadString(Stream s) => Encoding.UTF8.GetString(ReadBytes(s, 1 << 16));

    public static float[] ReadFloats(Stream s)
    {
        long n = ReadLong(s);
        if (n < 0 || n > Array.MaxLength) throw new InvalidDataException($"a tensor message of {n} floats: corrupt stream");
        var data = new float[n];
        s.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        return data;
    }

    /// <summary>Connects with a deadline, retrying while the other side is not listening yet (it may still be
    /// starting: another process). The wait between tries grows from 20 ms to 500 ms.</summary>
    public static TcpClient ConnectWithRetry(string host, int port, DateTime deadline, string what)
    {
        var backoff = TimeSpan.FromMilliseconds(20);
        Exception? last = null;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) break;
            var client = new TcpClient { NoDelay = true };
            try
            {
                using var cts = new CancellationTokenSource(left);
                client.ConnectAsync(host, port, cts.Token).AsTask().GetAwaiter().GetResult();
                return client;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                client.Dispose();
                last = e;
                if (e is SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData }) break;
            }
            var pause = backoff < deadline - DateTime.UtcNow ? backoff : deadline - DateTime.UtcNow;
            if (pause > TimeSpan.Zero) Thread.Sleep(pause);
            backoff = TimeSpan.FromMilliseconds(Math.Min(500, backoff.TotalMilliseconds * 2));
        }
        string why = last switch
        {
            SocketException se => se.Message,
            OperationCanceledException => "connection attempt timed out",
            _ => "no attempt finished",
        };
        throw new CommTimeoutException($"{what}: could not reach {host}:{port}: {why}");
    }
}
