using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Ltx;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>
/// LTX-Video under <see cref="MeshExecutor"/> on in-process ranks against the single-rank Forward of the public
/// fixture (4 heads, 3 frames × 4×6 = 72 video tokens, 10 caption tokens of which rows keep 10 and 6): CFG, Ulysses,
/// Ring and their hybrids must each return the whole output on every rank within 1e-5. The RoPE rows (all heads wide)
/// follow the tokens a rank holds, the q/k norm over all heads is per token before Ulysses splits the heads, and the
/// padded caption keys stay hidden whatever shard a rank holds.
/// </summary>
public class LtxMeshTests
{
    const string Fixture = "ltx";

    static readonly Lazy<float[]> Reference = new(() =>
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
        using var model = LtxTransformer.Load(fx.Dir, ops);
        var owned = new List<Tensor>();
        try
        {
            using var y = model.Forward(ops, Inputs(fx, ops, owned));
            return ops.ToHost(y);
        }
        finally { foreach (var t in owned) t.Dispose(); }
    });

    static DitInputs Inputs(FixtureCase fx, IOps ops, List<Tensor> owned)
    {
        Tensor Up(string name) { var t = fx.UploadInput(ops, name); owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"), EncoderHiddenStates = Up("encoder_hidden_states"),
            EncoderAttentionMask = Up("encoder_attention_mask"), Timestep = fx.InputFloats("timestep"),
            ImgShape = (3, 4, 6), RopeInterpolationScale = LtxFixtureRunner.RopeInterpolationScale(fx),
        };
    }

    [Theory]
    [InlineData(2, 1, 1)]
    [InlineData(1, 2, 1)]
    [InlineData(1, 4, 1)]
    [InlineData(1, 1, 3)]
    [InlineData(1, 2, 3)]
    [InlineData(2, 2, 1)]
    [InlineData(2, 1, 3)]
    public void EveryRankReturnsTheSingleRankOutput(int cfg, int ulysses, int ring)
    {
        var reference = Reference.Value;
        int world = cfg * ulysses * ring;
        var mesh = new DeviceMesh(world, cfg: cfg, ulysses: ulysses, ring: ring);
        var results = InProcessWorld.Run(world, comm =>
        {
            var ops = comm.Ops;
            using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
            using var model = LtxTransformer.Load(fx.Dir, ops);
            var owned = new List<Tensor>();
            try
            {
                using var output = new MeshExecutor(mesh, comm).Predict(ops, model, Inputs(fx, ops, owned), 0);
                return (Output: ops.ToHost(output), Bytes: comm.Stats.BytesByOperation);
            }
            finally { foreach (var t in owned) t.Dispose(); }
        });
        for (int r = 0; r < world; r++)
        {
            double err = Numerics.RelativeError(results[r].Output, reference);
            Assert.True(err < 1e-5, $"{Fixture} on {mesh}: rank {r} relative error {err:E2}");
            Assert.Equal(ulysses > 1, results[r].Bytes.GetValueOrDefault("AllToAll") > 0);
            Assert.Equal(ring > 1, results[r].Bytes.GetValueOrDefault("Send") > 0);
        }
    }
}
