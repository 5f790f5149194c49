using XDit.Kernels.Cpu;

namespace XDit.Tests.Kernels;

/// <summary>CpuOps refuses every input of <see cref="OpContractCases"/> with an ArgumentException from the op's
/// contract; XDit.Tests.Cuda.CudaOpContractTests checks CudaOps refuses them with the same message.</summary>
public class OpContractTests
{
    [Theory, MemberData(nameof(OpContractCases.Names), MemberType = typeof(OpContractCases))]
    public void CpuOpsRefusesWithTheContractsMessage(string name)
    {
        using var ops = new CpuOps();
        var e = OpContractCases.Refusal(ops, name);
        Assert.IsAssignableFrom<ArgumentException>(e);
        string op = name[..name.IndexOf(':')];
        Assert.StartsWith(op + ": ", e.Message);
        Assert.Contains("XDit.Kernels.OpContracts", e.StackTrace ?? "");
    }
}
