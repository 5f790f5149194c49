using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Kernels.Cuda;

/// <summary>
/// Compiles (through the NVRTC disk cache) and loads each native/kernels module on first use, and launches its
/// kernels. Launch arguments are passed as a stackalloc'd array of pointers to the caller's locals: no boxing,
/// no pinning, nothing that would break stream capture.
/// </summary>
public sealed unsafe class KernelLibrary : IDisposable
{
    readonly NvrtcCompiler _compiler;
    readonly Dictionary<string, CudaModule> _modules = new();
    readonly Dictionary<nint, int> _smemSet = new();
    readonly object _lock = new();

    public KernelLibrary(NvrtcCompiler compiler) => _compiler = compiler;

    public NvrtcCompiler Compiler => _compiler;

    public nint Function(string module, string kernel)
    {
        CudaModule m;
        lock (_lock)
        {
            if (!_modules.TryGetValue(module, out m!))
            {
                var cubin = _compiler.Compile(module, KernelSources.Source(module), KernelSources.Headers);
                _modules[module] = m = new CudaModule(module, cubin);
            }
        }
        return m.Function(kernel);
    }

    /// <summary>Loads every module now (start-up cost paid once, and a compile error surfaces immediately).</summary>
    public void LoadAll()
    {
        foreach (var m in KernelSources.Modules)
            lock (_lock)
                if (!_modules.ContainsKey(m))
                    _modules[m] = new CudaModule(m, _compiler.Compile(m, KernelSources.Source(m), KernelSources.Headers));
    }

    /// <summary>Dynamic shared memory from which a kernel asks for the largest shared carveout: the tensor-core
    /// attention (tens of KiB a block, several blocks a multiprocessor), not the reductions' few KiB.</summary>
    const uint CarveoutFrom = 16 * 1024;

    public void Launch(nint function, uint gridX, uint gridY, uint blockX, uint sharedBytes, nint stream, void** args, string name)
    {
        if (sharedBytes >= CarveoutFrom)
        {
            lock (_lock)
            {
                if (!_smemSet.TryGetValue(function, out int set) || set < sharedBytes)
                {
                    if (sharedBytes > 48 * 1024)
                        Check.Cu(Driver.cuFuncSetAttribute(function, CuFunctionAttribute.MaxDynamicSharedSizeBytes, (int)sharedBytes), $"cuFuncSetAttribute({name})");
                    // the driver may otherwise size the shared part of L1 for fewer resident blocks than fit
                    if (set == 0)
                        Check.Cu(Driver.cuFuncSetAttribute(function, CuFunctionAttribute.PreferredSharedMemoryCarveout, 100), $"cuFuncSetAttribute({name}, carveout)");
                    _smemSet[function] = (int)sharedBytes;
                }
            }
        }
        Check.Cu(Driver.cuLaunchKernel(function, gridX, gridY, 1, blockX, 1, 1, sharedBytes, stream, args, null), $"cuLaunchKernel({name})");
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var m in _modules.Values) m.Dispose();
            _modules.Clear();
        }
    }
}
