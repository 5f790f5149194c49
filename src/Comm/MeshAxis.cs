namespace XDit.Comm;

/// <summary>The axes of a <see cref="DeviceMesh"/>. Sp is the 2-D Ulysses × Ring block, as one group.</summary>
public enum MeshAxis { Tp, Ulysses, Ring, Sp, Pipe, Cfg, Data }

/// <summary>A rank's position on every axis of the mesh.</summary>
public readonly record struct MeshCoord(int Tp, int Ulysses, int Ring, int Sp, int Pipe, int Cfg, int Data)
{
    public int this[MeshAxis axis] => axis switch
    {
        MeshAxis.Tp => Tp,
        MeshAxis.Ulysses => Ulysses,
        MeshAxis.Ring => Ring,
        MeshAxis.Sp => Sp,
        MeshAxis.Pipe => Pipe,
        MeshAxis.Cfg => Cfg,
        MeshAxis.Data => Data,
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };
}
