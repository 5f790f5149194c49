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
    const int DownTag = 91, UpTag = 92;

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

    static Tensor Own(List<Tensor> owned, Tensor t) { owned.Add(t); return t; }
}
