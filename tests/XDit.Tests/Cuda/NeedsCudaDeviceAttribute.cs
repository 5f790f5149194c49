using Xunit.v3;

namespace XDit.Tests.Cuda;

/// <summary>
/// Marks tests that need a CUDA device (a GPU, or the emulator pass's stand-ins, <see cref="Emulation.EmulatedCuda"/>):
/// on a machine without a driver, `./build.sh test` leaves them out of its first pass (-trait- Needs=cuda-device)
/// and runs them in the emulator pass, so the first pass lists no skips that the second one runs. On a GPU machine
/// the one pass runs them all. A test of such a class that needs no device belongs unmarked (and so in both passes).
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false)]
public sealed class NeedsCudaDeviceAttribute : Attribute, ITraitAttribute
{
    public const string Name = "Needs";
    public const string Value = "cuda-device";

    public IReadOnlyCollection<KeyValuePair<string, string>> GetTraits() => [new(Name, Value)];
}
