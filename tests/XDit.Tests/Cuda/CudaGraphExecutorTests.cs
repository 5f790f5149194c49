using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Cuda;

/// <summary>CudaGraphExecutor on a toy transformer: replays agree with the eager forward step after step, a new
/// shape records a new graph, and blocks that talk to the host fall back to eager with the reason.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class CudaGraphExecutorTests
{
    /// <summary>Image tokens [B, N, D] from the latents; each block adds the conditioning and applies a GELU-tanh
    /// Linear; optionally a block reads a value back to the host (which a graph cannot hold).</summary>
    sealed class ToyTransformer(IOps ops, int d, bool talksToHost) : DiffusionTransformer
    {
        readonly Tensor _w = ops.FromHost(Numerics.Random(d * d, 171, 0.3f), d, d);

        public override int NumBlocks => 3;
        public override int NumHeads => 1;
        public override int HeadDim => d;
        public override int OutFeatures => d;
        public override long WeightBytes => _w.ByteCount;

        public override DitState Embed(IOps o, DitInputs inputs)
        {
            var x = inputs.HiddenStates;
            int b = x.Dim(0), n = (int)(x.NumElements / b / d);
            var image = o.Contiguous(x.Reshape(b, n, d));
            var t = o.FromHost(inputs.Timestep.SelectMany(v => Enumerable.Repeat(v / 1000f, n * d)).ToArray(), b, n, d);
            var s = new DitState { Image = image, Conditioning = t, TotalTokens = n, GridH = 1, GridW = n };
            s.Own(image);
            s.Own(t);
            return s;
        }

        public override void RunBlock(IOps o, int index, DitState state, IAttention attention)
        {
            if (talksToHost) o.ToHost(state.Conditioning);
            using var h = o.Add(state.Image, state.Conditioning);
            state.ReplaceImage(o.Linear(h, _w, null, Activation.GeluTanh));
        }

        public override Tensor Finish(IOps o, DitState state) => o.Contiguous(state.Image);
        public override Tensor Unpatchify(IOps o, Tensor tokens, DitState state) => o.Contiguous(tokens);
        public override void Dispose() => _w.Dispose();
    }

    static DitInputs Inputs(IOps ops, int rows, int n, int d, int seed, List<Tensor> owned)
    {
        var x = ops.FromHost(Numerics.Random(rows * n * d, seed), rows, n * d);
        owned.Add(x);
        return new DitInputs { HiddenStates = x, EncoderHiddenStates = x, Timestep = Enumerable.Range(0, rows).Select(r => 900f - 37 * seed - r).ToArray() };
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StepsAgreeWithTheEagerForward(bool talksToHost)
    {
        var gpu = CudaTestDevice.Get(DType.F32);
        const int d = 24;
        using var model = new ToyTransformer(gpu, d, talksToHost);
        using var executor = new CudaGraphExecutor();
        var owned = new List<Tensor>();
        try
        {
            // five steps of 2 rows × 7 tokens, then two of 1 row × 5 tokens: a second graph
            var steps = Enumerable.Range(0, 5).Select(i => (Rows: 2, N: 7, Seed: 180 + i)).Concat([(1, 5, 190), (1, 5, 191)]);
            int step = 0;
            foreach (var (rows, n, seed) in steps)
            {
                var inputs = Inputs(gpu, rows, n, d, seed, owned);
                using var want = model.Forward(gpu, inputs);
                using var got = executor.Predict(gpu, model, inputs, step++);
                Assert.Equal(gpu.ToHost(want), gpu.ToHost(got));
            }
            if (talksToHost)
            {
                Assert.Contains("ToHost while a CUDA graph is being captured", executor.FallbackReason);
                Assert.Equal((0, 0), (executor.Captures, executor.Replays));
            }
            else
            {
                Assert.Null(executor.FallbackReason);
                // per shape: the first step warms up, the second records; every step after the first replays
                Assert.Equal((2, 4 + 1), (executor.Captures, executor.Replays));
            }
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
    }

    [Fact]
    public void HunyuanDiTsLongSkipsLiveInsideTheGraph()
    {
        // the skips are made and joined by the blocks, so the graph holds them as its own temporaries; each step's
        // replay must equal the eager forward on that step's inputs
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = XDit.Tests.Parallel.FixtureInputs.Load("hunyuandit");
        using var model = f.LoadModel(gpu);
        using var executor = new CudaGraphExecutor();
        for (int step = 0; step < 3; step++)
        {
            var inputs = f.Scaled(1f - 0.3f * step, 1f - 0.2f * step);
            var want = inputs.Predict(gpu, model, SingleRankExecutor.Instance, step);
            var got = inputs.Predict(gpu, model, executor, step);
            Assert.Equal(want, got);
        }
        Assert.Null(executor.FallbackReason);
        // step 0 warms up, step 1 records and replays, step 2 replays
        Assert.Equal((1, 2), (executor.Captures, executor.Replays));
    }

    [Fact]
    public void CogVideoXsVideoLayoutReplaysInTheGraph()
    {
        // 1.5: video latents [B, F, C, H, W], the text stream rewritten by every block, RoPE tables and the ofs
        // embedding; Unpatchify, inside the graph, reads the state's frame count (GridT)
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = XDit.Tests.Parallel.FixtureInputs.Load("cogvideox15");
        using var model = f.LoadModel(gpu);
        using var executor = new CudaGraphExecutor();
        for (int step = 0; step < 3; step++)
        {
            var inputs = f.Scaled(1f - 0.3f * step, 1f - 0.2f * step);
            var want = inputs.Predict(gpu, model, SingleRankExecutor.Instance, step);
            var got = inputs.Predict(gpu, model, executor, step);
            Assert.Equal(want, got);
        }
        Assert.Null(executor.FallbackReason);
        Assert.Equal((1, 2), (executor.Captures, executor.Replays));
    }

    [Fact]
    public void WansVideoLayoutReplaysInTheGraph()
    {
        // Wan: latents [B, C, F, H, W]; the blocks read the text, the timestep projection and the RoPE tables from the
        // state, Finish temb (EmbeddedTimestep), and Unpatchify, inside the graph, the frame count (GridT)
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = XDit.Tests.Parallel.FixtureInputs.Load("wan");
        using var model = f.LoadModel(gpu);
        using var executor = new CudaGraphExecutor();
        for (int step = 0; step < 3; step++)
        {
            var inputs = f.Scaled(1f - 0.3f * step, 1f - 0.2f * step);
            var want = inputs.Predict(gpu, model, SingleRankExecutor.Instance, step);
            var got = inputs.Predict(gpu, model, executor, step);
            Assert.Equal(want, got);
        }
        Assert.Null(executor.FallbackReason);
        Assert.Equal((1, 2), (executor.Captures, executor.Replays));
    }
}
