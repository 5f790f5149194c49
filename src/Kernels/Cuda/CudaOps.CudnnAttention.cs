using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Kernels.Cuda;

// The choice between cuDNN's fused attention (CudnnAttention) and our kernels (AttentionLaunch) for each call.
public sealed unsafe partial class CudaOps
{
    /// <summary>Largest head dim cuDNN's fused flash attention takes (a multiple of 8 up to 256 on Hopper, per the
    /// cuDNN developer guide's support surface); larger ones stay on our kernels without asking.</summary>
    public const int CudnnAttentionMaxHeadDim = 256;

    CudnnAttention? _cudnnAttention;
    bool _cudnnAttentionBroken;   // the handle could not be made: never ask again
    readonly List<string> _cudnnAttentionNotes = new();

    /// <summary>Which implementation runs attention (<see cref="Cuda.AttentionBackend"/>); Auto by default.</summary>
    public AttentionBackend AttentionBackend { get; set; } = AttentionBackend.Auto;

    /// <summary>In Auto, the first run of each cuDNN plan is checked against our kernel on the same inputs (on the
    /// host) and a plan that disagrees is dropped for our kernel, because the graph was written without a GPU at hand
    /// and a wrong image must not be the first sign of a misread attribute. The launch ledger turns it off for the
    /// forward it counts (ForwardLedger).</summary>
    public bool CheckCudnnAttention { get; set; } = true;

    /// <summary>What ran the last <see cref="Attention"/> call: "cudnn" or "native" (the ledger's attention rows).</summary>
    public string LastAttentionBackend { get; private set; } = "native";

    /// <summary>Why cuDNN's fused attention is not even tried for a call with these properties (null: it is). The
    /// call shape only: whether cuDNN then builds a plan for it is cuDNN's answer.</summary>
    public static string? CudnnAttentionSkipped(DType dt, int headDim, int keys, AttentionOptions? options)
    {
        if (dt is not (DType.BF16 or DType.F16)) return $"{dt} activations (cuDNN's fused attention takes bf16 or f16)";
        if (options is { KeyBias: not null } or { Bias: not null } or { Causal: true } or { Window: not null })
            return "a key bias, bias, causal mask or band window (our kernel's)";
        if (headDim % 8 != 0 || headDim > CudnnAttentionMaxHeadDim) return $"head dim {headDim} (cuDNN takes multiples of 8 up to {CudnnAttentionMaxHeadDim})";
        if (keys == 0) return "no keys";
        return CudnnAttention.GraphApiAvailable(out var why) ? null : $"cuDNN's graph API is not here: {why}";
    }

    /// <summary>Runs the call through cuDNN when the backend choice allows and cuDNN can; false leaves it to our
    /// kernels. q, k, v in o's dtype with unit stride on d; o contiguous. A call not of cuDNN's kind
    /// (<see cref="CudnnAttentionSkipped"/>) is false in every mode. For one of its kind, in Auto a refusal is a note
    /// (once per line) and false; with <see cref="AttentionBackend.Cudnn"/> it is one NotSupportedException.</summary>
    /// <paramref name="firstRun"/> is the plan's key when this was its first run and the caller must check it
    /// (<see cref="CheckCudnnAttention"/>).
    bool TryCudnnAttention(Tensor q, Tensor k, Tensor v, Tensor o, AttentionOptions options, Tensor? lse, out CudnnAttentionKey? firstRun)
    {
        firstRun = null;
        LastAttentionBackend = "native";
        if (AttentionBackend == AttentionBackend.Native) return false;
        string? why = CudnnAttentionSkipped(q.DType, q.Dim(3), k.Dim(1), options);
        bool refused = false;   // cuDNN itself said no (a note), rather than the call not being cuDNN's kind
        if (why is null)
        {
            var key = CudnnAttentionKey.For(q, k, v, o, options.Scale ?? 1f / MathF.Sqrt(q.Dim(3)), lse is not null);
            bool check = AttentionBackend == AttentionBackend.Auto && CheckCudnnAttention && !(_cudnnAttention?.IsChecked(key) ?? false);
            // the check reads both results on the host, which a capture cannot: a shape first met there stays ours
            if (check && IsCapturing) return false;
            why = RunCudnnAttention(key, q, k, v, o, lse);
            if (why is null)
            {
                Launches.Count(LaunchCounter.CudnnAttention);
                LastAttentionBackend = "cudnn";
                if (check) firstRun = key;
                return true;
            }
            refused = true;
        }
        // forced, a call of the kind cuDNN's fused attention takes must run there; the others (masks, band windows,
        // head dims it has no engine for: the text encoders', the VAE's 512-wide head) stay ours, as in auto
        if (AttentionBackend == AttentionBackend.Cudnn && refused)
            throw new NotSupportedException($"--attention-backend cudnn: {why}; use auto or native");
        if (refused)
            lock (_cudnnAttentionNotes)
            {
                string note = why + "; our kernel ran it";
                if (!_cudnnAttentionNotes.Contains(note)) _cudnnAttentionNotes.Add(note);
            }
        return false;
    }

    /// <summary>The first run of a cuDNN plan against our kernel on the same inputs: within the dtype's tolerance the
    /// plan is kept (and not checked again); otherwise it is refused for good, o (and lse) are overwritten with our
    /// kernel's result and a note says by how much cuDNN's differed.</summary>
    void CheckCudnnAgainstNative(in CudnnAttentionKey key, Tensor q, Tensor k, Tensor v, Tensor o, AttentionOptions options, Tensor? lse, bool byGemm)
    {
        using var ours = Empty(o.DType, o.Dims);
        using var oursLse = lse is null ? null : Empty(DType.F32, lse.Dims);
        NativeAttention(q, k, v, ours, options, oursLse, byGemm);
        double err = RelativeL2(ToHost(o), ToHost(ours));
        double lseErr = lse is null ? 0 : RelativeL2(ToHost(lse), ToHost(oursLse!));
        // a misread graph is O(1) off; two correct bf16 kernels differ by their P rounding, a few 1e-3
        double tol = o.DType == DType.BF16 ? 2e-2 : 5e-3;
        if (err <= tol && lseErr <= 1e-3) { _cudnnAttention!.MarkChecked(key); return; }
        string why = $"cuDNN attention for {key.Shape} differs from our kernel's on its first run (relative {err:G3}, log-sum-exp {lseErr:G3})";
        _cudnnAttention!.Refuse(key, why);
        lock (_cudnnAttentionNotes)
        {
            string note = why + "; our kernel ran it";   // the words the later refusals of this key give, so one note
            if (!_cudnnAttentionNotes.Contains(note)) _cudnnAttentionNotes.Add(note);
        }
        Copy(o, ours);
        if (lse is not null) Copy(lse, oursLse!);
        LastAttentionBackend = "native";
    }

    /// <summary>‖a − b‖ / ‖b‖ in double (0 when both are 0; NaN anywhere gives NaN, which fails any bound).</summary>
    static double RelativeL2(float[] a, float[] b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - b[i]; num += d * d; den += (double)b[i] * b[i]; }
        return num == 0 ? 0 : Math.Sqrt(num / den);
    }

    /// <summary>Null when cuDNN ran it, else the refusal line.</summary>
    string? RunCudnnAttention(in CudnnAttentionKey key, Tensor q, Tensor k, Tensor v, Tensor o, Tensor? lse)
    {
        if (_cudnnAttentionBroken) return $"cuDNN attention not available for {key.Shape}: no cuDNN handle";
        if (_cudnnAttention is null)
        {
            try { _cudnnAttention = new CudnnAttention(_stream.Handle); }
            catch (Exception e) when (e is CudaException or CudaUnavailableException)
            {
                _cudnnAttentionBroken = true;
                return $"cuDNN attention not available for {key.Shape}: {e.Message}";
            }
        }
        var why = _cudnnAttention.Prepare(key, out long workspace, out _);
        if (why is not null) return why;
        if (workspace > WorkspaceBytes)
            return $"cuDNN attention not available for {key.Shape}: its plan wants {workspace} bytes of workspace, more than the {WorkspaceBytes} shared";
        ulong pq = Ptr(q, "q"), pk = Ptr(k, "k"), pv = Ptr(v, "v"), po = Ptr(o, "output"), pl = lse is null ? 0 : Ptr(lse, "lse");
        // the tensors are declared 16-byte aligned (a view may start anywhere in its storage)
        if (((pq | pk | pv | po | pl) & 15) != 0)
            return $"cuDNN attention not available for {key.Shape}: a view of q, k, v, o or lse does not start on 16 bytes";
        return _cudnnAttention.Execute(key, pq, pk, pv, po, pl, _workspace.Pointer);
    }
}
