namespace XDit.Runtime;

/// <summary>
/// The size of a host tensor without its bytes: what <see cref="RandomCheckpoint"/> hands out in shape-only mode,
/// for the launch ledger of a model far larger than this machine's memory on the emulator's no-exec device. A
/// backend that uploads it allocates the device tensor and copies nothing (CudaOps.Upload); reading its values on
/// the host fails as for any tensor that is not in <see cref="HostStorage"/>.
/// </summary>
public sealed class ShapeOnlyStorage(long byteLength) : Storage(byteLength);
