using System.Reflection;
using XDit.Runtime;
using XDit.Kernels;

namespace XDit.Tests.Models;

/// <summary>
/// An <see cref="IOps"/> that forwards every call to another and counts them by op name: a count of a model's
/// launches taken on the CPU. On CudaOps each counted op is one kernel or GEMM launch, a Concat one copy per part;
/// Empty, uploads and downloads launch nothing and are not counted. Copies CudaOps adds to make an unsupported
/// strided input dense are not seen here (the launch ledger counts at the driver). DispatchProxy cannot pass
/// spans: the ops that take one (FromHost, TimestepEmbedding, Embedding) belong to Embed, run on the inner ops.
/// </summary>
public class OpCallCounter : DispatchProxy
{
    IOps _inner = null!;
    readonly Dictionary<string, int> _counts = new();

    static readonly HashSet<string> NoLaunch =
        [nameof(IOps.Empty), nameof(IOps.FromHost), nameof(IOps.Upload), nameof(IOps.ToHost), nameof(IOps.Dispose), nameof(IOps.FallbackNotes),
         "get_" + nameof(IOps.Name), "get_" + nameof(IOps.ActivationType), "get_" + nameof(IOps.Allocator)];

    /// <summary>An IOps over <paramref name="inner"/> and the counter behind it.</summary>
    public static (IOps Ops, OpCallCounter Counter) Wrap(IOps inner)
    {
        var ops = Create<IOps, OpCallCounter>();
        var counter = (OpCallCounter)(object)ops;
        counter._inner = inner;
        return (ops, counter);
    }

    public IReadOnlyDictionary<string, int> Counts => _counts;
    public int Launches => _counts.Values.Sum();
    public void Reset() => _counts.Clear();

    protected override object? Invoke(MethodInfo? method, object?[]? args)
    {
        var m = method!;
        if (!NoLaunch.Contains(m.Name))
        {
            int n = m.Name == nameof(IOps.Concat) ? ((Tensor[])args![1]!).Length : 1;
            _counts[m.Name] = _counts.GetValueOrDefault(m.Name) + n;
        }
        try { return m.Invoke(_inner, args); }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
