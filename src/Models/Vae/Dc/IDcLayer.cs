using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>One module of a DC-AE decoder stage (an up block, a ResBlock or an EfficientViTBlock): image in, image
/// out, the spatially coupled work through <paramref name="spatial"/>.</summary>
public interface IDcLayer
{
    /// <summary>The module's weight prefix (<c>decoder.up_blocks.2.1</c>).</summary>
    string Name { get; }
    /// <summary>x [B, C, H, W] → the module's output; x stays the caller's.</summary>
    Tensor Forward(IOps ops, Tensor x, DcSpatialOps spatial);
}
