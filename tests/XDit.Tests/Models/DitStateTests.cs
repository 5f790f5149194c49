using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>A DitState's tensors as one set: named slots in a fixed order, and a state rebuilt over other tensors
/// keeps the token layout and owns none of them (what the CUDA graph executor relies on).</summary>
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

    sealed class DisposableList(IEnumerable<Tensor?> items) : IDisposable
    {
        public Tensor?[] Items { get; } = items.ToArray();
        public void Dispose() { foreach (var t in Items) t?.Dispose(); }
    }
}
