namespace XDit.Models.Flux;

/// <summary>The widths a Flux-style block is loaded with: model width (heads × head_dim) and MLP width.</summary>
readonly record struct FluxBlockShape(int Heads, int HeadDim, int MlpDim)
{
    public int Dim => Heads * HeadDim;
}
