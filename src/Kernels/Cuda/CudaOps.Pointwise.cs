using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// Elementwise ops (native/kernels/pointwise.cu). Outputs take the dtype of the main input.
public sealed unsafe partial class CudaOps
{
    public Tensor Activate(Tensor x, Activation act)
    {
        Enter();
        using var xc = Dense(x);
        var y = NewLike(x);
        ActivateInto(y, xc.T, act);
        return y;
    }

    /// <summary>y = act(x); both contiguous, same dtype; y may be x.</summary>
    void ActivateInto(Tensor y, Tensor x, Activation act)
    {
        ulong py = Ptr(y), px = Ptr(x);
        int dt = (int)x.DType, a = (int)act;
        long n = x.NumElements;
        Launch(CudaKernels.Activate, n, [py, px, dt, n, a]);
    }

    public Tensor Add(Tensor a, Tensor b) => Binary(a, b, 0, "Add");
    public Tensor Mul(Tensor a, Tensor b) => Binary(a, b, 1, "Mul");

    Tensor Binary(Tensor a, Tensor b, int op, string name)
    {
        OpContracts.Broadcast(name, a, b);
        Enter();
        var y = NewLike(a);
        try { BinaryInto(y, a, b, op); }
        catch { y.Dispose(); throw; }
        return y;
    }

    /// <summary>out = a (op) b with b broadcast to a's shape (NumPy rules); out contiguous with a's shape and may
    /// alias a. The shapes passed <see cref="OpContracts.Broadcast"/>.</summary>
    void BinaryInto(Tensor output, Tensor a, Tensor b, int op)
    {
        var bStrides = new long[a.Rank];
        int shift = a.Rank - b.Rank;
        for (int i = 0; i < b.Rank; i++)
        {
            int bd = b.Dim(i), ad = a.Dim(i + shift);
            bStrides[i + shift] = bd == ad ? b.Strides[i] : 0;
        }
        ulong po = Ptr(output), pa = Ptr(a), pb = Ptr(b);
        int odt = (int)output.DType;
        var al = KernelLayout.Of(a);
        var bl = KernelLayout.Of(b, a.ShapeSpan, bStrides);
        long n = a.NumElements;
        Launch(CudaKernels.BinaryBroadcast, n, [po, odt, pa, KernelArg.Struct(&al), pb, KernelArg.Struct(&bl), n, op]);
    }

    public Tensor Scale(Tensor x, float scale, float shift = 0f)
    {
        Enter();
        using var xc = Dense(x);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T);
        int dt = (int)x.DType;
        long n = x.NumElements;
        Launch(CudaKernels.ScaleShift, n, [py, px, dt, n, scale, shift]);
        return y;
    }

    public Tensor Modulate(Tensor x, Tensor shift, Tensor scale)
    {
        OpContracts.Modulate(x, shift, scale);
        Enter();
        long shStride = OpContracts.BatchStride(x, shift), scStride = OpContracts.BatchStride(x, scale);
        using var xc = Dense(x);
        using var shc = Dense(shift);
        using var scc = Dense(scale);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T), psh = Ptr(shc.T), psc = Ptr(scc.T);
        int dt = (int)x.DType, shdt = (int)shift.DType, scdt = (int)scale.DType;
        long B = x.Dim(0), N = x.Dim(1), D = x.Dim(2);
        Launch(CudaKernels.Modulate, B * N * D, [py, px, dt, psh, shdt, shStride, psc, scdt, scStride, B, N, D]);
        return y;
    }

    public Tensor GatedResidual(Tensor x, Tensor gate, Tensor y)
    {
        OpContracts.GatedResidual(x, gate, y);
        Enter();
        long gStride = OpContracts.BatchStride(x, gate);
        using var xc = Dense(x);
        using var yc = Dense(y);
        using var gc = Dense(gate);
        var o = NewLike(x);
        ulong po = Ptr(o), px = Ptr(xc.T), py = Ptr(yc.T), pg = Ptr(gc.T);
        int dt = (int)x.DType, ydt = (int)y.DType, gdt = (int)gate.DType;
        long B = x.Dim(0), N = x.Dim(1), D = x.Dim(2);
        Launch(CudaKernels.GatedResidual, B * N * D, [po, px, dt, py, ydt, pg, gdt, gStride, B, N, D]);
        return o;
    }

    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool interleaved)
    {
        OpContracts.Rope(x, cos, sin);
        Enter();
        long B = x.Dim(0), N = x.Dim(1), H = x.Dim(2), d = x.Dim(3);
        var tdt = cos.DType;
        using var xc = Dense(x);
        using var cc = Dense(cos);
        using var sc = Dense(sin, tdt);
        var y = NewLike(x);
        ulong py = Ptr(y), px = Ptr(xc.T), pc = Ptr(cc.T), ps = Ptr(sc.T);
        int dt = (int)x.DType, t = (int)tdt, il = interleaved ? 1 : 0;
        Launch(CudaKernels.Rope, B * N * H * d, [py, px, dt, pc, ps, t, B, N, H, d, il]);
        return y;
    }
}
