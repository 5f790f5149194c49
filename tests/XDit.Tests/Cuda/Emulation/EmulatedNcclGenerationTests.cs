using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Tests.Comm;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The parallel methods over NCCL, as `xdit launch ... generate --device cuda` runs them on two GPUs: each rank a
/// thread with its own emulated device (the emulator pass has two) and NCCL rank, running
/// <see cref="ParallelGeneration.RunRank"/>. The images equal those of the same plan on in-process ranks, which
/// the other parallel tests hold to one rank's. At 16×16 pixels (a 4×4 latent, 16 tokens): every mesh still splits
/// it (8 tokens a rank, 2 PipeFusion bands of 2 token rows) and runs each of its collectives every step, and an
/// emulated step costs a fifth of one at the default 32×32, with 4 generations per mesh.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedNcclGenerationTests
{
    static readonly GenerationRequest Request = new() { Prompts = ["a red circle on a blue background"], NumInferenceSteps = 2, Seed = 7, Height = 16, Width = 16 };

    public static TheoryData<string> Meshes => new() { "cfg2", "ulysses2", "ring2", "pp2" };

    static ParallelConfig Config(string mesh) => mesh switch
    {
        "cfg2" => new() { WorldSize = 2, UseCfgParallel = true },
        "ulysses2" => new() { WorldSize = 2, UlyssesDegree = 2 },
        "ring2" => new() { WorldSize = 2, RingDegree = 2 },
        "pp2" => new() { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2, WarmupSteps = 1 },
        _ => throw new ArgumentException(mesh),
    };

    [Theory]
    [MemberData(nameof(Meshes))]
    public void TwoNcclRanksDrawWhatTwoInProcessRanksDraw(string mesh)
    {
        EmulatedCuda.Require();
        NcclTestWorld.Require(2);
        var config = Config(mesh);
        var inProcess = ParallelGeneration.Run(TestPaths.DemoModel, config, Request, makeOps: rank => new CudaOps(rank, DType.F32)).Result;
        var ranks = NcclTestWorld.Run(2, DType.F32, comm =>
        {
            var outcome = ParallelGeneration.RunRank(comm, TestPaths.DemoModel, config, Request);
            comm.Barrier();   // nobody closes its communicator while the other still works
            return outcome;
        });
        var leader = Assert.Single(ranks, r => r.Leader);
        var want = inProcess.Images.SelectMany(i => i.Pixels).ToArray();
        var got = leader.Result.Images.SelectMany(i => i.Pixels).ToArray();
        Assert.Equal(want.Length, got.Length);
        double err = Numerics.RelativeError(got, want);
        Assert.True(err < 1e-5, $"{mesh}: relative error {err:E2} against the in-process ranks");
    }
}
