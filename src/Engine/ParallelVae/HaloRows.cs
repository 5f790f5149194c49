using XDit.Comm;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.ParallelVae;

/// <summary>
/// A "same"-padded k×k convolution (or any function whose output row r reads input rows r ± k/2) of a band of image
/// rows held by each rank of a group (rank order = top to bottom), as in DistVAE (methods.md §9): the band first
/// trades <c>halo</c> = k/2 rows with its neighbours (Send/Recv), the function runs on the widened band with its
/// usual zero padding (the image's own borders), and the halo rows' outputs are cropped. Shared by the
/// AutoencoderKL and DC-AE patch-parallel decoders.
/// </summary>
public static class HaloRows
{
    const int DownTag = 91, UpTag = 92, BelowTag = 93;

    /// <summary>conv(x widened by <paramref name="halo"/> rows from each neighbour), cropped to x's rows.
    /// <paramref name="conv"/> must keep the row count of its input (stride 1, padding = halo) and read no row farther
    /// than <paramref name="halo"/> away.</summary>
    public static Tensor Convolve(IOps ops, ICommunicator group, Tensor x, int halo, string layer, Func<Tensor, Tensor> conv)
    {
        int r = group.Rank, n = group.Size, h = x.Dim(2);
        if (halo == 0 || n == 1) return conv(x);
        if (h < halo)
            throw new ArgumentException($"patch-parallel VAE at {layer}: rank {r} holds {h} rows, fewer than the {halo} halo rows a {2 * halo + 1}x{2 * halo + 1} convolution needs from it");
        // Buffered sends first (down to r+1 carries my last rows, up to r−1 my first rows), then the receives.
        if (r < n - 1) group.Send(x.Slice(2, h - halo, halo), r + 1, DownTag);
        if (r > 0) group.Send(x.Slice(2, 0, halo), r - 1, UpTag);
        var parts = new List<Tensor>();
        var owned = new List<Tensor>();
        try
        {
            int[] haloShape = [x.Dim(0), x.Dim(1), halo, x.Dim(3)];
            if (r > 0)
            {
                var top = Own(owned, ops.Empty(x.DType, haloShape));
                group.Recv(top, r - 1, DownTag);
                parts.Add(top);
            }
            parts.Add(x);
            if (r < n - 1)
            {
                var bottom = Own(owned, ops.Empty(x.DType, haloShape));
                group.Recv(bottom, r + 1, UpTag);
                parts.Add(bottom);
            }
            var wide = Own(owned, ops.Concat(2, parts.ToArray()));
            var y = Own(owned, conv(wide));
            return ops.Contiguous(y.Slice(2, r > 0 ? halo : 0, h));
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    /// <summary>The first <paramref name="rows"/> rows of the band below this rank's (sent up by rank r+1 as this
    /// rank receives them from it); null on the last rank, whose band ends at the image's true bottom edge. Every rank
    /// of the group must call it (each sends its own first rows up). The encoder's stride-2 downsampler needs one.</summary>
    public static Tensor? FromBelow(IOps ops, ICommunicator group, Tensor x, int rows, string layer)
    {
        int r = group.Rank, n = group.Size, h = x.Dim(2);
        if (h < rows)
            throw new ArgumentException($"patch-parallel VAE at {layer}: rank {r} holds {h} rows, fewer than the {rows} its upper neighbour needs");
        if (r > 0) group.Send(x.Slice(2, 0, rows), r - 1, BelowTag);
        if (r == n - 1) return null;
        var below = ops.Empty(x.DType, [x.Dim(0), x.Dim(1), rows, x.Dim(3)]);
        try { group.Recv(below, r + 1, BelowTag); }
        catch { below.Dispose(); throw; }
        return below;
    }

    static Tensor Own(List<Tensor> owned, Tensor t) { owned.Add(t); return t; }
}
