using XDit.Runtime;

namespace XDit.Kernels;

/// <summary>
/// The second half of <see cref="IOps.LinearRmsNormRopeInto"/>'s unfused twin, shared by the backends: RMSNorm and
/// rotation in place on each group of heads with its row of the norm weight, through <see cref="IOps.RmsNormRope"/>.
/// Tables of one row per token serve every head; tables with a row per head of a group (Mochi's [N, (H/G)·d]) go
/// head by head, each with its own columns.
/// </summary>
static class HeadNormGroups
{
    public static void RmsNormRopeInPlace(IOps ops, Tensor y, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        int h = y.Dim(2), d = y.Dim(3), groups = weight is { Rank: 2 } ? weight.Dim(0) : 1, per = h / groups;
        bool perHead = cos is not null && cos.Dim(1) != d;
        for (int g = 0; g < groups; g++)
        {
            var part = y.Slice(2, g * per, per);
            var w = weight is { Rank: 2 } ? weight.Select(0, g) : weight;
            if (!perHead)
            {
                ops.RmsNormRope(part, part, w, cos, sin, eps, interleaved);
                continue;
            }
            for (int j = 0; j < per; j++)
            {
                var head = part.Slice(2, j, 1);
                ops.RmsNormRope(head, head, w, cos!.Slice(1, j * d, d), sin!.Slice(1, j * d, d), eps, interleaved);
            }
        }
    }
}
