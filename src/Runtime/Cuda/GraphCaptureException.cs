namespace XDit.Runtime.Cuda;

/// <summary>Work that was being captured into a CUDA graph did something a graph cannot hold (a host transfer, a
/// wait, a fresh cuMemAlloc). The capture is abandoned; the work can still run eagerly.</summary>
public sealed class GraphCaptureException(string message) : InvalidOperationException(message);
