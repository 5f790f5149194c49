using XDit.Engine.Bench;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Tests.Cuda;

namespace XDit.Tests.Bench;

/// <summary>The untimed launch ledger of one forward of a real-size model or its toy twin, in bf16 on weights of shape
/// only: on the emulator's no-exec device in the emulator pass, on the GPU itself on a GPU machine (where the model
/// runs). For the tests that pin a model's launches and elementwise traffic.</summary>
public static class NoExecLedger
{
    public static LedgerReport Of(string model)
    {
        CudaTestDevice.RequireDevice();
        var was = EmulatorNoExec.Set(1);   // null on a GPU: there the model runs, on weights of shape only
        try
        {
            using var ops = new CudaOps(0, DType.BF16);
            var workload = RealSizeModels.Workload(model, DType.BF16, shapeOnlyWeights: true);
            return ForwardLedger.Run(ops, workload, GpuSpec.H100, time: false, "test");
        }
        finally
        {
            if (was is not null) EmulatorNoExec.Set(-1);
        }
    }

    /// <summary>"scope: launches" per row of the ledger's by-block table.</summary>
    public static string[] LaunchesPerBlock(string model) => Of(model).ByBlock.Select(r => $"{r.Name}: {r.Launches}").ToArray();
}
