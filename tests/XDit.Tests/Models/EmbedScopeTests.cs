using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>The tensors an Embed makes belong to its scope until the state takes them: a failed Embed frees them,
/// a finished one leaves them to the state alone.</summary>
public class EmbedScopeTests
{
    [Fact]
    public void AnEmbedThatThrowsFreesWhatItMade()
    {
        var ops = new CpuOps();
        Tensor? image = null, dropped = null, kept = null;
        void Embed()
        {
            using var made = new EmbedScope();
            image = made.Add(ops.FromHost(new float[4], 1, 1, 4));
            dropped = made.Add(ops.FromHost(new float[4], 1, 4));
            made.Drop(dropped);
            kept = made.Add(ops.FromHost(new float[4], 1, 4));
            throw new InvalidOperationException("a bad input found halfway");
        }
        Assert.Throws<InvalidOperationException>(Embed);
        Assert.True(image!.IsDisposed);
        Assert.True(dropped!.IsDisposed);
        Assert.True(kept!.IsDisposed);
    }

    [Fact]
    public void TheStateOwnsWhatTheScopeHandsIt()
    {
        var ops = new CpuOps();
        DitState state;
        Tensor image, cond, dropped;
        using (var made = new EmbedScope())
        {
            image = made.Add(ops.FromHost(new float[4], 1, 1, 4));
            dropped = made.Add(ops.FromHost(new float[4], 1, 4));
            cond = made.Add(ops.FromHost(new float[4], 1, 4));
            made.Drop(dropped);
            state = made.HandTo(new DitState { Image = image, Conditioning = cond, TotalTokens = 1, GridH = 1, GridW = 1 });
        }
        Assert.False(image.IsDisposed);
        Assert.False(cond.IsDisposed);
        Assert.True(dropped.IsDisposed);
        Assert.Equal([image, cond], state.Owned);
        state.Dispose();
        Assert.True(image.IsDisposed);
        Assert.True(cond.IsDisposed);
    }
}
