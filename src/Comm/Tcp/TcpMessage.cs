namespace XDit.Comm.Tcp;

/// <summary>Which mailbox a message goes to: a group's n-th collective, or a group's point-to-point tag.</summary>
readonly record struct MailKey(byte Kind, long Group, long Id)
{
    public const byte Collective = 1, PointToPoint = 2;
    /// <summary>A one-byte frame that says "alive" (<see cref="PeerLink.Beat"/>); it goes to no mailbox.</summary>
    public const byte Heartbeat = 3;
}

/// <summary>
/// One frame between two ranks: its mailbox, the operation that sent it (so a rank that called another
/// collective is caught), the sender's tensor shape (checked by the receiver) and float32 values (the host copy).
/// </summary>
sealed record TcpMessage(MailKey Key, string Op, int[] Dims, float[] Data)
{
    public void WriteTo(Stream s)
    {
        // Header in one buffer, then the payload: two writes per frame, whatever the rank of the shape.
        var header = new MemoryStream(64);
        header.WriteByte(Key.Kind);
        Wire.WriteLong(header, Key.Group);
        Wire.WriteLong(header, Key.Id);
        Wire.WriteString(header, Op);
        Wire.WriteInt(header, Dims.Length);
        foreach (var d in Dims) Wire.WriteInt(header, d);
        Wire.WriteLong(header, Data.Length);
        s.Write(header.GetBuffer(), 0, (int)header.Length);
        s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Data.AsSpan()));
    }

    /// <summary>The next frame, or null for a heartbeat.</summary>
    public static TcpMessage? ReadFrom(Stream s)
    {
        byte kind = Wire.ReadByte(s);
        if (kind == MailKey.Heartbeat) return null;
        if (kind is not (MailKey.Collective or MailKey.PointToPoint)) throw new InvalidDataException($"frame kind {kind}: corrupt stream");
        long group = Wire.ReadLong(s), id = Wire.ReadLong(s);
        string op = Wire.ReadString(s);
        int rank = Wire.ReadInt(s);
        if (rank is < 0 or > 16) throw new InvalidDataException($"a tensor of rank {rank}: corrupt stream");
        var dims = new int[rank];
        for (int i = 0; i < rank; i++) dims[i] = Wire.ReadInt(s);
        var data = Wire.ReadFloats(s);
        return new TcpMessage(new MailKey(kind, group, id), op, dims, data);
    }
}
