using System.Text;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>A loaded CUBIN with its kernels looked up once by name.</summary>
public sealed unsafe class CudaModule : IDisposable
{
    readonly Dictionary<string, nint> _functions = new();

    public CudaModule(string name, byte[] image)
    {
        Name = name;
        nint m;
        fixed (byte* p = image) Check.Cu(Driver.cuModuleLoadData(&m, p), $"cuModuleLoadData({name})");
        Handle = m;
    }

    public string Name { get; }
    public nint Handle { get; private set; }

    /// <summary>The CUfunction of an <c>extern "C"</c> kernel.</summary>
    public nint Function(string kernel)
    {
        lock (_functions)
        {
            if (_functions.TryGetValue(kernel, out var f)) return f;
            var bytes = Encoding.UTF8.GetBytes(kernel + "\0");
            fixed (byte* p = bytes) Check.Cu(Driver.cuModuleGetFunction(&f, Handle, p), $"cuModuleGetFunction({Name}/{kernel})");
            _functions[kernel] = f;
            return f;
        }
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        var h = Handle;
        Handle = 0;
        Check.Cu(Driver.cuModuleUnload(h), "cuModuleUnload");
    }
}
