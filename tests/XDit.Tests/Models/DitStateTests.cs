using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>A DitState's tensors as one set: named slots in a fixed order, then the long skips it holds, and a state
/// rebuilt over other tensors keeps the token layout and owns none of them (what the CUDA graph executor relies on).</summary>
public class DitStateTests
{
    [Fact]
    public void TensorsFollowTheirNamesAndRebuildAStateOfTheSameLayout()
    {
        var ops = new CpuOps();
        using var image = ops.FromHost(new float[12], 1, 3, 4);
        using var cond = ops.FromHost(new float[4], 1, 4);
        using var emb = ops.FromHost(new float[4], 1, 4);
        using var state = new DitState
        {
            Image = image, Conditioning = cond, EmbeddedTimestep = emb,
            TokenStart = 2, TotalTokens = 6, GridH = 2, GridW = 3,
        };
        Assert.Equal(DitState.TensorNames.Count, state.Tensors.Count);
        Assert.Same(image, state.Tensors[DitState.TensorNames.ToList().IndexOf(nameof(DitState.Image))]);
        Assert.Same(emb, state.Tensors[DitState.TensorNames.ToList().IndexOf(nameof(DitState.EmbeddedTimestep))]);
        Assert.Null(state.Tensors[DitState.TensorNames.ToList().IndexOf(nameof(DitState.Text))]);

        using var copies = new DisposableList(state.Tensors.Select(t => t is null ? null : ops.Contiguous(t)));
        using var rebuilt = state.WithTensors(copies.Items);
        Assert.Equal(copies.Items, rebuilt.Tensors);
        Assert.Equal((2, 6, 2, 3), (rebuilt.TokenStart, rebuilt.TotalTokens, rebuilt.GridH, rebuilt.GridW));
        Assert.Empty(rebuilt.Owned);
    }

    [Fact]
    public void RebuildingFromTheWrongNumberOfTensorsSaysHowManySlotsThereAre()
    {
        var ops = new CpuOps();
        using var image = ops.FromHost(new float[4], 1, 1, 4);
        using var state = new DitState { Image = image, Conditioning = image, TotalTokens = 1, GridH = 1, GridW = 1 };
        var e = Assert.Throws<ArgumentException>(() => state.WithTensors([image]));
        Assert.Contains("9 tensor slots", e.Message);
    }

    [Fact]
    public void AKeptSkipOutlivesItsTimeAsTheImageAndIsFreedOnceJoined()
    {
        // HunyuanDiT's bookkeeping: a block's output is the image, then kept as a skip while later blocks replace the
        // image, then popped and dropped by the block that joins it
        var ops = new CpuOps();
        using var cond = ops.FromHost(new float[4], 1, 4);
        using var embedded = ops.FromHost(new float[8], 1, 2, 4);
        using var state = new DitState { Image = embedded, Conditioning = cond, TotalTokens = 2, GridH = 1, GridW = 2 };
        state.ReplaceImage(ops.FromHost(Numerics.Random(8, 1), 1, 2, 4));
        var kept = state.Image;
        state.PushSkip(kept);
        state.ReplaceImage(ops.FromHost(Numerics.Random(8, 2), 1, 2, 4));
        Assert.False(kept.IsDisposed);
        Assert.Equal(DitState.TensorNames.Count + 1, state.Tensors.Count);
        Assert.Same(kept, state.Tensors[^1]);
        var popped = state.PopSkip();
        Assert.Same(kept, popped);
        Assert.Empty(state.Skips);
        state.Drop(popped);
        Assert.True(kept.IsDisposed);
        var e = Assert.Throws<InvalidOperationException>(() => state.PopSkip());
        Assert.Contains("holds none", e.Message);
        Assert.Throws<ArgumentException>(() => state.PushSkip(cond));
    }

    [Fact]
    public void SkipsAreCutWithTheTokensAndRebuiltAfterTheSlots()
    {
        var ops = new CpuOps();
        using var cond = ops.FromHost(new float[2], 1, 2);
        using var image = ops.FromHost(Enumerable.Range(0, 8).Select(i => (float)i).ToArray(), 1, 4, 2);
        using var skip = ops.FromHost(Enumerable.Range(0, 8).Select(i => 100f + i).ToArray(), 1, 4, 2);
        using var state = new DitState { Image = image, Conditioning = cond, TotalTokens = 4, GridH = 2, GridW = 2 };
        state.PushSkip(skip);
        state.Shard(ops, 1, 2);
        Assert.Equal([102f, 103f, 104f, 105f], ops.ToHost(state.Skips[0]));
        Assert.Equal([2f, 3f, 4f, 5f], ops.ToHost(state.Image));

        using var rebuilt = state.WithTensors(state.Tensors);
        Assert.Same(state.Skips[0], rebuilt.Skips.Single());
        Assert.Empty(rebuilt.Owned);
    }

    sealed class DisposableList(IEnumerable<Tensor?> items) : IDisposable
    {
        public Tensor?[] Items { get; } = items.ToArray();
        public void Dispose() { foreach (var t in Items) t?.Dispose(); }
    }
}
