using System.Runtime.CompilerServices;

namespace XDit.Kernels.Cuda;

/// <summary>
/// One kernel argument with its kind, made by implicit conversion: a <c>ulong</c> is a device pointer, an <c>int</c>
/// an i32, a <c>long</c> an i64, a <c>float</c> an f32; a by-value struct is passed by address with
/// <see cref="Struct{T}"/>. Scalars are held in the argument itself, so a launch reads
/// <c>[py, px, dt, n]</c> with no locals to point at; <see cref="KernelEntry.CheckArguments"/> compares the kinds
/// with the kernel's.
/// </summary>
public readonly unsafe struct KernelArg
{
    readonly long _bits;   // a scalar's bytes, little-endian from offset 0 (where cuLaunchKernel reads them)
    readonly void* _struct;

    KernelArg(long bits, void* structAddress, KernelParam param)
    {
        _bits = bits;
        _struct = structAddress;
        Param = param;
    }

    public KernelParam Param { get; }

    public static implicit operator KernelArg(ulong devicePointer) => new((long)devicePointer, null, KernelParam.Pointer);
    public static implicit operator KernelArg(int value) => new((uint)value, null, KernelParam.I32);
    public static implicit operator KernelArg(long value) => new(value, null, KernelParam.I64);
    public static implicit operator KernelArg(float value) => new((uint)BitConverter.SingleToInt32Bits(value), null, KernelParam.F32);

    /// <summary>A struct passed by value, read from <paramref name="value"/> at launch (it must live until then).</summary>
    public static KernelArg Struct<T>(T* value) where T : unmanaged => new(0, value, KernelParam.Struct(sizeof(T)));

    /// <summary>Where the driver reads this argument's bytes: <paramref name="self"/> must point at this very value.</summary>
    internal static void* Address(KernelArg* self) => self->_struct != null ? self->_struct : Unsafe.AsPointer(ref Unsafe.AsRef(in self->_bits));
}
