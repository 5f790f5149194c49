using XDit.Kernels.Cpu;
using XDit.Runtime;
using XDit.Tests.Kernels;

namespace XDit.Tests.Cuda;

/// <summary>CudaOps refuses every input of <see cref="OpContractCases"/> as CpuOps does: the same exception type
/// and message, in each activation dtype. Skips where no CUDA device (or emulator) is present.</summary>
[Collection("cuda")]
[NeedsCudaDevice]
public class CudaOpContractTests
{
    [Theory, MemberData(nameof(OpContractCases.Names), MemberType = typeof(OpContractCases))]
    public void CudaOpsRefusesAsCpuOpsDoes(string name)
    {
        using var cpu = new CpuOps();
        var want = OpContractCases.Refusal(cpu, name);
        foreach (var dt in new[] { DType.F32, DType.BF16 })
        {
            var got = OpContractCases.Refusal(CudaTestDevice.Get(dt), name);
            Assert.Equal(want.GetType(), got.GetType());
            Assert.Equal(want.Message, got.Message);
        }
    }
}
