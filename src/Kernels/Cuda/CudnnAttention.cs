using System.Runtime.InteropServices;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;
using static XDit.Runtime.Cuda.Interop.CudnnGraph;

namespace XDit.Kernels.Cuda;

/// <summary>
/// Fused attention through cuDNN 9's backend graph API: the graph cudnn-frontend's SDPA forward node lowers to
/// (Q·Kᵀ matmul, a by-value scale multiply, softmax as max / subtract / exp / sum / divide with the statistics
/// max + log(sum) written as the log-sum-exp, P·V matmul), bf16/f16 in and out, float32 inside (P in the input
/// dtype, as cuDNN wants the second matmul's A). One execution plan
/// per <see cref="CudnnAttentionKey"/> (heuristics mode A, then the fallback list; the first configuration that
/// finalizes wins), built on first use and kept. A shape cuDNN refuses is remembered with its reason
/// ("cuDNN attention not available for …: status (last error)") and never tried again; nothing here throws for
/// a refusal, so the caller's automatic choice can take its own kernel instead.
/// </summary>
public sealed unsafe class CudnnAttention : IDisposable
{
    // the graph's tensors, by unique id (the variant pack names the non-virtual ones)
    const long UidQ = 1, UidK = 2, UidV = 3, UidO = 4, UidStats = 5, UidScale = 6;
    const long UidS = 101, UidScaled = 102, UidMax = 103, UidCentered = 104, UidExp = 105, UidSum = 106, UidLogSum = 107, UidP = 108;

    readonly nint _handle;
    readonly Dictionary<CudnnAttentionKey, Plan> _plans = new();

    sealed class Plan
    {
        public nint ExecutionPlan;
        public long WorkspaceBytes;
        public string? Refusal;
        public bool Checked;   // its first run agreed with our kernel (CudaOps.CheckCudnnAttention)
        public readonly List<nint> Descriptors = new();   // everything the plan was built from, destroyed with it
    }

    public CudnnAttention(nint stream)
    {
        CudaLibraries.Require(CudaLibraries.CudnnSpec);
        nint h;
        Check.Cudnn(Cudnn.cudnnCreate(&h), "cudnnCreate");
        _handle = h;
        Check.Cudnn(Cudnn.cudnnSetStream(h, stream), "cudnnSetStream");
    }

    static readonly Lazy<string?> GraphApiMissing = new(FindGraphApi);

    /// <summary>Whether cuDNN's graph API is here (libcudnn loads and cudnnGetVersion ≥ 90000); otherwise why not.
    /// Asked once per process (the automatic choice asks on every attention).</summary>
    public static bool GraphApiAvailable(out string? why)
    {
        why = GraphApiMissing.Value;
        return why is null;
    }

    static string? FindGraphApi()
    {
        try
        {
            CudaLibraries.EnsureResolver();
            var lib = CudaLibraries.Load(CudaLibraries.CudnnSpec);
            if (!lib.Found) return lib.Problem;
            ulong v = Cudnn.cudnnGetVersion();
            return v >= 90000 ? null : $"cuDNN {v / 10000}.{v % 10000 / 100} predates the graph API's fused attention (9.0 or later)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return e.Message;
        }
    }

    /// <summary>Shapes refused so far, one line each (the caller logs each once).</summary>
    public IEnumerable<string> Refusals
    {
        get { lock (_plans) return _plans.Values.Where(p => p.Refusal is not null).Select(p => p.Refusal!).ToList(); }
    }

    /// <summary>Builds (once) the plan for <paramref name="key"/>: null when it is ready, else the refusal line.
    /// <paramref name="isNew"/> says whether this call built it, so a refusal is reported once.</summary>
    public string? Prepare(in CudnnAttentionKey key, out long workspaceBytes, out bool isNew)
    {
        lock (_plans)
        {
            isNew = !_plans.TryGetValue(key, out var plan);
            if (plan is null)
            {
                plan = Build(key);
                _plans[key] = plan;
            }
            workspaceBytes = plan.WorkspaceBytes;
            return plan.Refusal;
        }
    }

    /// <summary>Whether the plan for <paramref name="key"/> has run once and agreed with our kernel.</summary>
    public bool IsChecked(in CudnnAttentionKey key)
    {
        lock (_plans) return _plans.TryGetValue(key, out var p) && p.Checked;
    }

    /// <summary>Records that the plan's first run agreed with our kernel.</summary>
    public void MarkChecked(in CudnnAttentionKey key)
    {
        lock (_plans) if (_plans.TryGetValue(key, out var p)) p.Checked = true;
    }

    /// <summary>Refuses <paramref name="key"/> from now on, with <paramref name="why"/> as its line (a plan that ran
    /// but disagreed with our kernel).</summary>
    public void Refuse(in CudnnAttentionKey key, string why)
    {
        lock (_plans) if (_plans.TryGetValue(key, out var p)) p.Refusal = why;
    }

    /// <summary>Runs the prepared plan for <paramref name="key"/> on the stream: q, k, v, o device addresses of the
    /// first elements, lse of a contiguous F32 [B, H, Nq] (0 when the key has no stats), the workspace (at least
    /// the plan's bytes). Returns null, or the line saying why cuDNN refused to run it.</summary>
    public string? Execute(in CudnnAttentionKey key, ulong q, ulong k, ulong v, ulong o, ulong lse, ulong workspace)
    {
        Plan? plan;
        lock (_plans) _plans.TryGetValue(key, out plan);
        if (plan is null || plan.Refusal is not null) return plan?.Refusal ?? $"cuDNN attention for {key.Shape}: no plan prepared";
        float scale = key.Scale;   // by value: the variant pack points at host memory for it
        int n = key.Stats ? 6 : 5;
        var uids = stackalloc long[6] { UidQ, UidK, UidV, UidO, UidScale, UidStats };
        var ptrs = stackalloc nint[6] { (nint)q, (nint)k, (nint)v, (nint)o, (nint)(&scale), (nint)lse };
        nint pack = 0;
        try
        {
            pack = Create(VariantPackDescriptor);
            Set(pack, VariantPackUniqueIds, TypeInt64, n, uids);
            Set(pack, VariantPackDataPointers, TypeVoidPtr, n, ptrs);
            nint ws = (nint)workspace;
            Set(pack, VariantPackWorkspace, TypeVoidPtr, 1, &ws);
            Check.Cudnn(CudnnBackend.cudnnBackendFinalize(pack), "cudnnBackendFinalize(variant pack)");
            Check.Cudnn(CudnnBackend.cudnnBackendExecute(_handle, plan.ExecutionPlan, pack), "cudnnBackendExecute");
            return null;
        }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException)
        {
            return $"cuDNN attention not available for {key.Shape}: {e.Message}";
        }
        finally
        {
            if (pack != 0) CudnnBackend.cudnnBackendDestroyDescriptor(pack);
        }
    }

    Plan Build(in CudnnAttentionKey k)
    {
        var plan = new Plan();
        try
        {
            var ops = Graph(k, plan.Descriptors);
            nint graph = Keep(plan, Create(OperationGraphDescriptor));
            nint handle = _handle;
            Set(graph, OperationGraphHandle, TypeHandle, 1, &handle);
            fixed (nint* p = ops.ToArray()) Set(graph, OperationGraphOps, TypeBackendDescriptor, ops.Count, p);
            Finalize(graph, "operation graph");

            string? last = null;
            foreach (int mode in new[] { HeurModeA, HeurModeFallback })
            {
                foreach (var cfg in EngineConfigs(graph, mode, plan))
                {
                    nint exec = Create(ExecutionPlanDescriptor);
                    Set(exec, ExecutionPlanHandle, TypeHandle, 1, &handle);
                    nint c = cfg;
                    Set(exec, ExecutionPlanEngineConfig, TypeBackendDescriptor, 1, &c);
                    int status = CudnnBackend.cudnnBackendFinalize(exec);
                    if (status != 0)
                    {
                        last = Describe(status, "cudnnBackendFinalize(execution plan)");
                        CudnnBackend.cudnnBackendDestroyDescriptor(exec);
                        continue;
                    }
                    long ws = 0, count = 0;
                    Check.Cudnn(CudnnBackend.cudnnBackendGetAttribute(exec, ExecutionPlanWorkspaceSize, TypeInt64, 1, &count, &ws),
                        "cudnnBackendGetAttribute(workspace size)");
                    plan.ExecutionPlan = Keep(plan, exec);
                    plan.WorkspaceBytes = ws;
                    return plan;
                }
            }
            plan.Refusal = $"cuDNN attention not available for {k.Shape}: {last ?? "the heuristics offered no engine configuration"}";
        }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException)   // a cuDNN without the graph API's entry points
        {
            plan.Refusal = $"cuDNN attention not available for {k.Shape}: {e.Message}";
        }
        return plan;
    }

    /// <summary>The engine configurations heuristics <paramref name="mode"/> offers for the graph (none when it
    /// fails: the next mode is tried).</summary>
    List<nint> EngineConfigs(nint graph, int mode, Plan plan)
    {
        var found = new List<nint>();
        nint heur = Create(EngineHeurDescriptor);
        try
        {
            Set(heur, EngineHeurOperationGraph, TypeBackendDescriptor, 1, &graph);
            Set(heur, EngineHeurMode, TypeHeurMode, 1, &mode);
            if (CudnnBackend.cudnnBackendFinalize(heur) != 0) return found;
            long count = 0;
            if (CudnnBackend.cudnnBackendGetAttribute(heur, EngineHeurResults, TypeBackendDescriptor, 0, &count, null) != 0 || count <= 0) return found;
            var cfgs = new nint[count];
            for (int i = 0; i < count; i++) cfgs[i] = Keep(plan, Create(EngineCfgDescriptor));
            long got = 0;
            fixed (nint* p = cfgs)
                if (CudnnBackend.cudnnBackendGetAttribute(heur, EngineHeurResults, TypeBackendDescriptor, count, &got, p) != 0) return found;
            found.AddRange(cfgs.Take((int)Math.Min(got, count)));
            return found;
        }
        finally { CudnnBackend.cudnnBackendDestroyDescriptor(heur); }
    }

    /// <summary>The operations of the graph, in order; every descriptor made goes to <paramref name="keep"/>.</summary>
    static List<nint> Graph(in CudnnAttentionKey k, List<nint> keep)
    {
        int io = k.DType switch
        {
            DType.BF16 => DataBFloat16,
            DType.F16 => DataHalf,
            _ => throw new CudaException("cuDNN attention", StatusNotSupported, "CUDNN_STATUS_NOT_SUPPORTED", $"{k.DType} activations (bf16 or f16 only)"),
        };
        long B = k.B, H = k.H, Nq = k.Nq, Nk = k.Nk, D = k.D;
        nint T(long uid, int dtype, long[] dims, long[] strides, bool isVirtual = false, bool byValue = false)
        {
            nint t = Create(TensorDescriptor);
            keep.Add(t);
            Set(t, TensorDataType, TypeDataType, 1, &dtype);
            fixed (long* d = dims) Set(t, TensorDimensions, TypeInt64, 4, d);
            fixed (long* s = strides) Set(t, TensorStrides, TypeInt64, 4, s);
            Set(t, TensorUniqueId, TypeInt64, 1, &uid);
            long align = 16;
            Set(t, TensorByteAlignment, TypeInt64, 1, &align);
            if (isVirtual) { bool v = true; Set(t, TensorIsVirtual, TypeBoolean, 1, &v); }
            if (byValue) { bool v = true; Set(t, TensorIsByValue, TypeBoolean, 1, &v); }
            Finalize(t, $"tensor {uid}");
            return t;
        }
        long[] full = [B, H, Nq, Nk], fullStrides = [H * Nq * Nk, Nq * Nk, Nk, 1];
        long[] row = [B, H, Nq, 1], rowStrides = [H * Nq, Nq, 1, 1];
        // cuDNN's [B, H, N, d] over our [B, N, H, d]; K enters as Kᵀ [B, H, d, Nk] by swapping its last two strides
        nint q = T(UidQ, io, [B, H, Nq, D], [k.QsB, k.QsH, k.QsN, 1]);
        nint kt = T(UidK, io, [B, H, D, Nk], [k.KsB, k.KsH, 1, k.KsN]);
        nint v = T(UidV, io, [B, H, Nk, D], [k.VsB, k.VsH, k.VsN, 1]);
        nint o = T(UidO, io, [B, H, Nq, D], [k.OsB, k.OsH, k.OsN, 1]);
        nint scale = T(UidScale, DataFloat, [1, 1, 1, 1], [1, 1, 1, 1], byValue: true);
        nint s = T(UidS, DataFloat, full, fullStrides, isVirtual: true);
        nint scaled = T(UidScaled, DataFloat, full, fullStrides, isVirtual: true);
        nint max = T(UidMax, DataFloat, row, rowStrides, isVirtual: true);
        nint centered = T(UidCentered, DataFloat, full, fullStrides, isVirtual: true);
        nint exp = T(UidExp, DataFloat, full, fullStrides, isVirtual: true);
        nint sum = T(UidSum, DataFloat, row, rowStrides, isVirtual: true);
        // P in the input dtype: cuDNN takes the second matmul's A in the I/O type (cudnn-frontend sets it so before
        // bmm2, "requirement by cudnn backend"), which is also how the fused engine feeds the tensor cores
        nint p = T(UidP, io, full, fullStrides, isVirtual: true);

        var ops = new List<nint>
        {
            Matmul(q, kt, s, keep),
            Pointwise(PointwiseMul, scaled, s, scale, keep),
            Reduction(ReduceMax, scaled, max, keep),
            Pointwise(PointwiseSub, centered, scaled, max, keep),
            Pointwise(PointwiseExp, exp, centered, 0, keep),
            Reduction(ReduceAdd, exp, sum, keep),
        };
        if (k.Stats)
        {
            // the log-sum-exp of the scaled scores, as Ring attention merges it: max + log(Σ exp(s − max))
            nint logSum = T(UidLogSum, DataFloat, row, rowStrides, isVirtual: true);
            nint stats = T(UidStats, DataFloat, row, rowStrides);
            ops.Add(Pointwise(PointwiseLog, logSum, sum, 0, keep));
            ops.Add(Pointwise(PointwiseAdd, stats, max, logSum, keep));
        }
        ops.Add(Pointwise(PointwiseDiv, p, exp, sum, keep));
        ops.Add(Matmul(p, v, o, keep));
        return ops;
    }

    static nint Matmul(nint a, nint b, nint c, List<nint> keep)
    {
        nint mm = Create(MatmulDescriptor);
        keep.Add(mm);
        int comp = DataFloat;
        Set(mm, MatmulCompType, TypeDataType, 1, &comp);
        Finalize(mm, "matmul");
        nint op = Create(OperationMatmulDescriptor);
        keep.Add(op);
        Set(op, OperationMatmulADesc, TypeBackendDescriptor, 1, &a);
        Set(op, OperationMatmulBDesc, TypeBackendDescriptor, 1, &b);
        Set(op, OperationMatmulCDesc, TypeBackendDescriptor, 1, &c);
        Set(op, OperationMatmulDesc, TypeBackendDescriptor, 1, &mm);
        Finalize(op, "matmul operation");
        return op;
    }

    /// <summary>y = mode(x, b); b 0 for the unary modes.</summary>
    static nint Pointwise(int mode, nint y, nint x, nint b, List<nint> keep)
    {
        nint pw = Create(PointwiseDescriptor);
        keep.Add(pw);
        Set(pw, PointwiseMode, TypePointwiseMode, 1, &mode);
        int prec = DataFloat;
        Set(pw, PointwiseMathPrec, TypeDataType, 1, &prec);
        Finalize(pw, "pointwise");
        nint op = Create(OperationPointwiseDescriptor);
        keep.Add(op);
        Set(op, OperationPointwisePwDescriptor, TypeBackendDescriptor, 1, &pw);
        Set(op, OperationPointwiseXDesc, TypeBackendDescriptor, 1, &x);
        if (b != 0) Set(op, OperationPointwiseBDesc, TypeBackendDescriptor, 1, &b);
        Set(op, OperationPointwiseYDesc, TypeBackendDescriptor, 1, &y);
        Finalize(op, "pointwise operation");
        return op;
    }

    static nint Reduction(int mode, nint x, nint y, List<nint> keep)
    {
        nint red = Create(ReductionDescriptor);
        keep.Add(red);
        Set(red, ReductionOperator, TypeReductionOperator, 1, &mode);
        int comp = DataFloat;
        Set(red, ReductionCompType, TypeDataType, 1, &comp);
        Finalize(red, "reduction");
        nint op = Create(OperationReductionDescriptor);
        keep.Add(op);
        Set(op, OperationReductionXDesc, TypeBackendDescriptor, 1, &x);
        Set(op, OperationReductionYDesc, TypeBackendDescriptor, 1, &y);
        Set(op, OperationReductionDesc, TypeBackendDescriptor, 1, &red);
        Finalize(op, "reduction operation");
        return op;
    }

    static nint Create(int type)
    {
        nint d;
        Check.Cudnn(CudnnBackend.cudnnBackendCreateDescriptor(type, &d), $"cudnnBackendCreateDescriptor({type})");
        return d;
    }

    static nint Keep(Plan plan, nint d)
    {
        plan.Descriptors.Add(d);
        return d;
    }

    static void Set(nint d, int name, int type, long count, void* elements) =>
        Check.Cudnn(CudnnBackend.cudnnBackendSetAttribute(d, name, type, count, elements), $"cudnnBackendSetAttribute({name})");

    static void Finalize(nint d, string what) => Check.Cudnn(CudnnBackend.cudnnBackendFinalize(d), $"cudnnBackendFinalize({what})");

    /// <summary>"call: STATUS (cuDNN's last error)" without throwing.</summary>
    static string Describe(int status, string call)
    {
        try { Check.Cudnn(status, call); return call; }
        catch (CudaException e) { return e.Message; }
    }

    public void Dispose()
    {
        lock (_plans)
        {
            foreach (var p in _plans.Values)
                for (int i = p.Descriptors.Count - 1; i >= 0; i--) CudnnBackend.cudnnBackendDestroyDescriptor(p.Descriptors[i]);
            _plans.Clear();
        }
        Cudnn.cudnnDestroy(_handle);
    }
}
