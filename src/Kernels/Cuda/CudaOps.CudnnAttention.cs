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
    /// kernels. q, k, v in o's dtype with unit stride on d; o contiguous. In Auto a refusal is a note (once per
    /// line) and false; with <see cref="AttentionBackend.Cudnn"/> it is one NotSupportedException.</summary>
    bool TryCudnnAttention(Tensor q, Tensor k, Tensor v, Tensor o, AttentionOptions options, Tensor? lse)
    {
        LastAttentionBackend = "native";
        if (AttentionBackend == AttentionBackend.Native) return false;
        string? why = CudnnAttentionSkipped(q.DType, q.Dim(3), k.Dim(1), options);
        bool refused = false;   // cuDNN itself said no (a note), rather than the call not being cuDNN's kind
        if (why is null)
        {
            var key = CudnnAttentionKey.For(q, k, v, o, options.Scale ?? 1f / MathF.Sqrt(q.Dim(3)), lse is not null);
            why = RunCudnnAttention(key, q, k, v, o, lse);
            if (why is null)
            {
                Launches.Count(LaunchCounter.CudnnAttention);
                LastAttentionBackend = "cudnn";
                return true;
            }
            refused = true;
        }
        if (AttentionBackend == AttentionBackend.Cudnn)
            throw new NotSupportedException($"--attention-backend cudnn: {(refused ? why : $"cuDNN attention cannot run this call: {why}")}; use auto or native");
        if (refused)
            lock (_cudnnAttentionNotes)
            {
                string note = why + "; our kernel ran it";
                if (!_cudnnAttentionNotes.Contains(note)) _cudnnAttentionNotes.Add(note);
            }
        return false;
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
