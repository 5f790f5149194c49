using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Mochi;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>
/// Mochi under <see cref="MeshExecutor"/> on in-process ranks against the single-rank Forward of the public fixture
/// (2 heads, 2 frames × 2×3 = 12 video tokens, 16 text tokens of which rows keep 16 and 6): CFG, Ulysses, Ring and
/// their hybrids must each return the whole output on every rank within 1e-5. Each head's own RoPE rows travel with
/// the video tokens a rank holds, and the padded text keys stay hidden whatever shard it holds.
/// </summary>
public class MochiMeshTests
{
    const string Fixture = "mochi";

    static readonly Lazy<float[]> Reference = new(() =>
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
        using var model = MochiTransformer.Load(fx.Dir, ops);
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
        };
    }

    [Theory]
    [InlineData(2, 1, 1)]
    [InlineData(1, 2, 1)]
    [InlineData(1, 1, 3)]
    [InlineData(1, 2, 3)]
    [InlineData(2, 1, 2)]
    public void EveryRankReturnsTheSingleRankOutput(int cfg, int ulysses, int ring)
    {
        var reference = Reference.Value;
        int world = cfg * ulysses * ring;
        var mesh = new DeviceMesh(world, cfg: cfg, ulysses: ulysses, ring: ring);
        var results = InProcessWorld.Run(world, comm =>
        {
            var ops = comm.Ops;
            using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
            using var model = MochiTransformer.Load(fx.Dir, ops);
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
