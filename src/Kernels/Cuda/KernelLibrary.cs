using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Kernels.Cuda;

/// <summary>
/// Compiles (through the NVRTC disk cache) and loads each native/kernels module on first use, and launches its
/// kernels (typed entries of <see cref="CudaKernels"/>). Launch arguments are <see cref="KernelArg"/>s in a span on
/// the caller's stack: no boxing, no pinning, nothing that would break stream capture.
/// </summary>
public sealed unsafe class KernelLibrary : IDisposable
{
    readonly NvrtcCompiler _compiler;
    readonly Dictionary<string, CudaModule> _modules = new();
    readonly Dictionary<nint, int> _smemSet = new();
    readonly object _lock = new();

    public KernelLibrary(NvrtcCompiler compiler) => _compiler = compiler;

    public NvrtcCompiler Compiler => _compiler;

    /// <summary>What this library and its CudaOps have queued (the ledger's launch count).</summary>
    public LaunchCounter Launches { get; } = new();

    /// <summary>The CUfunction of <paramref name="kernel"/>, compiling and loading its module on first use.</summary>
    public nint Function(KernelEntry kernel) => Module(kernel.Module).Function(kernel.Name);

    CudaModule Module(string module)
    {
        lock (_lock)
        {
            if (!_modules.TryGetValue(module, out var m))
                _modules[module] = m = new CudaModule(module, _compiler.Compile(module, KernelSources.Source(module), KernelSources.Headers));
            return m;
        }
    }

    /// <summary>Loads every module now and looks up every kernel of <see cref="CudaKernels"/> (start-up cost paid
    /// once, and a compile error or a kernel missing from its module surfaces immediately).</summary>
    public void LoadAll()
    {
        foreach (var m in KernelSources.Modules) Module(m);
        foreach (var k in CudaKernels.All) Function(k);
    }

    /// <summary>Dynamic shared memory from which a kernel asks for the largest shared carveout: the tensor-core
    /// attention (tens of KiB a block, several blocks a multiprocessor), not the reductions' few KiB.</summary>
    const uint CarveoutFrom = 16 * 1024;

    /// <summary>
    /// Queues one kernel on <paramref name="stream"/>: the one place every kernel launch of the CUDA backend passes
    /// (what to count per launch, bytes or FLOPs, belongs here). The arguments are checked against the kernel's
    /// entry (count, kinds, struct sizes) and handed to the driver as a null-terminated kernelParams array: the
    /// driver reads only the kernel's own count, and the emulator (native/emu) checks the null sits right there.
    /// </summary>
    public void Launch(in KernelLaunch launch, nint stream, ReadOnlySpan<KernelArg> args)
    {
        var kernel = launch.Entry;
        kernel.CheckArguments(args);
        nint function = Function(kernel);
        if (launch.SharedBytes >= CarveoutFrom) AllowSharedMemory(function, launch.SharedBytes, kernel.Name);
        void** pointers = stackalloc void*[args.Length + 1];
        fixed (KernelArg* a = args)
        {
            for (int i = 0; i < args.Length; i++) pointers[i] = KernelArg.Address(a + i);
            pointers[args.Length] = null;
            Check.Cu(Driver.cuLaunchKernel(function, launch.GridX, launch.GridY, 1, launch.BlockX, 1, 1, launch.SharedBytes, stream, pointers, null),
                $"cuLaunchKernel({kernel.Name})");
        }
        Launches.Count(kernel.Name);
    }

    void AllowSharedMemory(nint function, uint sharedBytes, string name)
    {
        lock (_lock)
        {
            if (_smemSet.TryGetValue(function, out int set) && set >= sharedBytes) return;
            if (sharedBytes > 48 * 1024)
                Check.Cu(Driver.cuFuncSetAttribute(function, CuFunctionAttribute.MaxDynamicSharedSizeBytes, (int)sharedBytes), $"cuFuncSetAttribute({name})");
            // the driver may otherwise size the shared part of L1 for fewer resident blocks than fit
            if (set == 0)
                Check.Cu(Driver.cuFuncSetAttribute(function, CuFunctionAttribute.PreferredSharedMemoryCarveout, 100), $"cuFuncSetAttribute({name}, carveout)");
            _smemSet[function] = (int)sharedBytes;
        }
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
