using XDit.Runtime;

namespace XDit.Kernels.Cuda;

// The epilogue constants of a block's gated GEMMs (alpha = the gate in F32, and the bias times the gate) for all of
// them in one launch: the gates are chunks of one adaLN output, so one gate_alpha_bias_n pass reads them all and each
// LinearGatedResidualInto inside the scope launches its matmul only.
public sealed unsafe partial class CudaOps
{
    const int MaxPreparedEpilogues = 4;   // gate_alpha_bias_n's pointer arguments

    GateScope? _gates;

    public IDisposable PrepareGatedEpilogues((Tensor Gate, Tensor? Bias)[] epilogues)
    {
        OpContracts.PrepareGatedEpilogues(epilogues);
        Enter();
        // one scope at a time (a nested one computes nothing: its GEMMs prepare their own)
        if (_gates is not null || epilogues.Length is 0 or > MaxPreparedEpilogues) return NoScope.Instance;
        var g0 = epilogues[0].Gate;
        int rows = g0.Rank == 1 ? 1 : g0.Dim(0), d = g0.Dim(-1);
        long gateRow = rows == 1 ? 0 : g0.Strides[0];
        var dt = g0.DType;
        DType? bdt = null;
        foreach (var (gate, bias) in epilogues)
        {
            // one launch reads every gate with one dtype, width and row stride, and every bias with one dtype
            int r = gate.Rank == 1 ? 1 : gate.Dim(0);
            if (gate.DType != dt || r != rows || gate.Dim(-1) != d || (r > 1 && gate.Strides[0] != gateRow) || (gate.Strides[^1] != 1 && d > 1))
                return NoScope.Instance;
            if (bias is null) continue;
            if (!bias.IsContiguous || (bdt is not null && bias.DType != bdt)) return NoScope.Instance;
            bdt = bias.DType;
        }
        // each group's alpha and gate·bias must start 16-byte aligned, as TryGatedGemm's own are
        long group = (long)rows * d;
        if (group * sizeof(float) % 16 != 0 || group * dt.SizeOf() % 16 != 0) return NoScope.Instance;
        int n = epilogues.Length;
        var alpha = Empty(DType.F32, n, rows, d);
        var gb = bdt is null ? null : Empty(dt, n, rows, d);
        ulong Gate(int i) => i < n ? Ptr(epilogues[i].Gate, "gate") : 0;
        ulong Bias(int i) => i < n ? PtrOrZero(epilogues[i].Bias, "bias") : 0;
        Launch(CudaKernels.GateAlphaBiasN, n * group,
            [Ptr(alpha), PtrOrZero(gb, "gate·bias"), (int)dt, (int)dt, (int)(bdt ?? dt), gateRow, (long)rows, (long)d, n,
             Gate(0), Gate(1), Gate(2), Gate(3), Bias(0), Bias(1), Bias(2), Bias(3)]);
        var entries = new (Tensor Gate, Tensor? Bias, ulong Alpha, ulong GateBias)[n];
        for (int i = 0; i < n; i++)
        {
            ulong a = Ptr(alpha) + (ulong)(i * group * sizeof(float));
            ulong b = epilogues[i].Bias is null ? 0 : Ptr(gb!) + (ulong)(i * group * dt.SizeOf());
            entries[i] = (epilogues[i].Gate, epilogues[i].Bias, a, b);
        }
        return _gates = new GateScope(this, entries, dt, alpha, gb);
    }

    sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }

    /// <summary>The prepared constants, found by the very gate and bias tensors they were computed from.</summary>
    sealed class GateScope(CudaOps owner, (Tensor Gate, Tensor? Bias, ulong Alpha, ulong GateBias)[] entries, DType dtype, Tensor alpha, Tensor? gb) : IDisposable
    {
        public (ulong Alpha, ulong GateBias)? Find(Tensor gate, Tensor? bias, DType dt)
        {
            if (dt != dtype) return null;
            foreach (var e in entries)
                if (ReferenceEquals(e.Gate, gate) && ReferenceEquals(e.Bias, bias)) return (e.Alpha, e.GateBias);
            return null;
        }

        public void Dispose()
        {
            if (owner._gates != this) return;
            owner._gates = null;
            alpha.Dispose();
            gb?.Dispose();
        }
    }
}
