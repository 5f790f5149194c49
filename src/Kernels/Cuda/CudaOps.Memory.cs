using System.Runtime.InteropServices;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Kernels.Cuda;

// Memory, transfers, copies and casts.
public sealed unsafe partial class CudaOps
{
    public Tensor Empty(DType dtype, params int[] shape)
    {
        OpContracts.Shape("Empty", shape);
        Enter();
        long bytes = Shape.Product(shape) * dtype.SizeOf();
        return new Tensor(_arena.Allocate(bytes), dtype, shape, owns: true);
    }

    public Tensor Zeros(DType dtype, params int[] shape)
    {
        var t = Empty(dtype, shape);
        if (t.ByteCount > 0)
        {
            Check.Cu(Driver.cuMemsetD8Async(Ptr(t), 0, (nuint)t.ByteCount, _stream.Handle), "cuMemsetD8Async");
            Launches.Count(LaunchCounter.Memset);
        }
        return t;
    }

    public Tensor FromHost(ReadOnlySpan<float> data, params int[] shape)
    {
        OpContracts.FromHost(data.Length, shape);
        var t = Empty(ActivationType, shape);
        UploadBytes(t, EncodeFloats(data, ActivationType));
        return t;
    }

    /// <summary>Float values in a host dtype's bytes (RNE for BF16, IEEE for F16).</summary>
    public static byte[] EncodeFloats(ReadOnlySpan<float> data, DType dtype)
    {
        switch (dtype)
        {
            case DType.F32: return MemoryMarshal.AsBytes(data).ToArray();
            case DType.F16:
            {
                var h = new Half[data.Length];
                for (int i = 0; i < h.Length; i++) h[i] = (Half)data[i];
                return MemoryMarshal.AsBytes(h.AsSpan()).ToArray();
            }
            case DType.BF16:
            {
                var b = new ushort[data.Length];
                for (int i = 0; i < b.Length; i++) b[i] = DTypeConvert.SingleToBFloat16(data[i]);
                return MemoryMarshal.AsBytes(b.AsSpan()).ToArray();
            }
            default: throw new NotSupportedException($"encoding floats as {dtype}");
        }
    }

    public Tensor Upload(Tensor host)
    {
        if (host.Storage is CudaStorage) return Contiguous(host);
        // a shape without values (RandomCheckpoint.ShapeOnly, for the ledger on the emulator's no-exec device)
        if (host.Storage is ShapeOnlyStorage) return Empty(host.DType, host.Dims);
        if (host.Storage is not HostStorage hs)
            throw new ArgumentException($"Upload: {host} is in {host.Storage.GetType().Name}; expected host memory");
        var t = Empty(host.DType, host.Dims);
        if (host.IsContiguous)
        {
            int size = host.DType.SizeOf();
            UploadBytes(t, hs.Bytes.AsSpan(checked((int)(host.Offset * size)), checked((int)host.ByteCount)));
        }
        else if (host.DType == DType.F32)
            UploadBytes(t, MemoryMarshal.AsBytes(host.ToFloatArray().AsSpan()));
        else
        {
            t.Dispose();
            throw new ArgumentException($"Upload: strided host tensor {host} of {host.DType}: make it contiguous on the host first");
        }
        return t;
    }

    void UploadBytes(Tensor dst, ReadOnlySpan<byte> bytes)
    {
        Enter();
        NotWhileCapturing("an upload from the host");
        if (bytes.Length != dst.ByteCount) throw new ArgumentException($"upload of {bytes.Length} bytes into {dst} ({dst.ByteCount} bytes)");
        _transfers.Upload(Ptr(dst), bytes);
    }

    public float[] ToHost(Tensor t)
    {
        Enter();
        NotWhileCapturing("ToHost");
        using var f = Dense(t, DType.F32);
        var result = new float[t.NumElements];
        _transfers.Download(MemoryMarshal.AsBytes(result.AsSpan()), Ptr(f.T));
        return result;
    }

    /// <summary>Raw bytes of a contiguous device tensor (any dtype).</summary>
    public byte[] DownloadBytes(Tensor t)
    {
        Enter();
        NotWhileCapturing("a download to the host");
        using var c = Dense(t);
        var result = new byte[c.T.ByteCount];
        _transfers.Download(result, Ptr(c.T));
        return result;
    }

    public Tensor Contiguous(Tensor x)
    {
        var y = NewLike(x);
        Copy(y, x);
        return y;
    }

    public Tensor Cast(Tensor x, DType dtype)
    {
        var y = Empty(dtype, x.Dims);
        Copy(y, x);
        return y;
    }

    public void Copy(Tensor dst, Tensor src)
    {
        OpContracts.Copy(dst, src);
        Enter();
        long n = dst.NumElements;
        if (n == 0) return;
        ulong d = Ptr(dst, "Copy destination"), s = Ptr(src, "Copy source");
        var (shape, ds, ss) = StridedViews.Merge(dst.ShapeSpan, dst.Strides, src.Strides);
        int rank = shape.Length;
        if (rank == 1 && ds[0] == 1 && ss[0] == 1)
        {
            if (dst.DType == src.DType)
            {
                Check.Cu(Driver.cuMemcpyDtoDAsync(d, s, (nuint)dst.ByteCount, _stream.Handle), "cuMemcpyDtoDAsync_v2");
                Launches.Count(LaunchCounter.MemcpyDeviceToDevice);
                return;
            }
            int ddt = (int)dst.DType, sdt = (int)src.DType, vec = KernelVector.Flag([], (d, dst.DType), (s, src.DType));
            Launch(CudaKernels.Convert, Steps(n), [d, ddt, s, sdt, n, vec]);
            return;
        }
        if (rank <= 2 && ds[^1] == 1 && ss[^1] == 1 && CopyRows(dst, d, src, s, rank == 2 ? shape[0] : 1, shape[^1], rank == 2 ? ds[0] : 0, rank == 2 ? ss[0] : 0))
            return;
        var dl = KernelLayout.Of(dst, shape, ds);
        var sl = KernelLayout.Of(src, shape, ss);
        Launch(CudaKernels.CopyStrided, n, [d, KernelArg.Struct(&dl), s, KernelArg.Struct(&sl), n]);
    }

    /// <summary>A copy whose views merged into rows (dense within a row, any row strides): copy_rows, 16 bytes a
    /// thread where the addresses allow. False where its 32-bit index would overflow (copy_strided takes it).</summary>
    bool CopyRows(Tensor dst, ulong d, Tensor src, ulong s, long rows, long rowLength, long dstRow, long srcRow)
    {
        int ddt = (int)dst.DType, sdt = (int)src.DType, vec;
        long work;
        if (dst.DType == src.DType)
        {
            int size = dst.DType.SizeOf();
            vec = d % 16 == 0 && s % 16 == 0 && rowLength * size % 16 == 0 && dstRow * size % 16 == 0 && srcRow * size % 16 == 0 ? 1 : 0;
            work = rows * (vec == 1 ? rowLength * size / 16 : rowLength);
        }
        else
        {
            vec = KernelVector.Flag([rowLength, dstRow, srcRow], (d, dst.DType), (s, src.DType));
            work = rows * ((rowLength + KernelVector.Width - 1) / KernelVector.Width);
        }
        if (work >= int.MaxValue || rowLength >= int.MaxValue) return false;
        Launch(CudaKernels.CopyRows, work, [d, ddt, dstRow, s, sdt, srcRow, rows, rowLength, vec]);
        return true;
    }

    public Tensor Concat(int axis, params Tensor[] xs)
    {
        OpContracts.Concat(axis, xs);
        int a = xs[0].NormAxis(axis);
        var shape = xs[0].Dims;
        int total = 0;
        foreach (var x in xs) total += x.Dim(a);
        shape[a] = total;
        var y = Empty(xs[0].DType, shape);
        int off = 0;
        foreach (var x in xs)
        {
            int len = x.Dim(a);
            if (len > 0) Copy(y.Slice(a, off, len), x);
            off += len;
        }
        return y;
    }
}
