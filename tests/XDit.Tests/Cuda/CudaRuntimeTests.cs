using System.Runtime.InteropServices;
using XDit.Cli.Commands;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Tests.Cuda;

/// <summary>The parts of the CUDA backend that run without a GPU: library resolution, error messages, struct
/// layouts shared with native code, embedded kernel sources and <c>xdit info</c>.</summary>
public class CudaRuntimeTests
{
    [Fact]
    public void MissingLibraryIsOneClearLine()
    {
        var spec = new NativeLibrarySpec("xdit_test_missing", ["libxdit-no-such-lib.so.7", "libxdit-no-such-lib.so"], "nothing provides it");
        var s = CudaLibraries.Probe(spec);
        Assert.False(s.Found);
        string where = Environment.GetEnvironmentVariable(CudaLibraries.LibraryDirVariable) is { Length: > 0 } dir
            ? $" in {dir} ({CudaLibraries.LibraryDirVariable})" : "";
        Assert.Equal($"libxdit-no-such-lib.so.7 not found{where} (tried libxdit-no-such-lib.so.7, libxdit-no-such-lib.so): nothing provides it", s.Problem);
    }

    [Fact]
    public void TryLoadAnswersWithoutThrowing()
    {
        bool ok = CudaLibraries.TryLoad(out var problem);
        if (ok) Assert.Null(problem);
        else
        {
            Assert.NotNull(problem);
            Assert.DoesNotContain('\n', problem);
            Assert.Contains(" not found", problem);
            Assert.Throws<CudaUnavailableException>(CudaLibraries.Require);
        }
    }

    [Fact]
    public void CudaExceptionNamesTheCallAndTheStatus()
    {
        var e = new CudaException("cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY");
        Assert.Equal("cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY", e.Message);
        // without a driver the status name falls back to the number; with one it is cuGetErrorName's
        var thrown = Assert.Throws<CudaException>(() => Check.Cu(2, "cuMemAlloc_v2"));
        Assert.Contains(thrown.Message, new[] { "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY", "cuMemAlloc_v2: CUresult 2" });
        Check.Cu(0, "cuInit");
    }

    [Fact]
    public unsafe void StructsSharedWithNativeCodeHaveTheNativeSizes()
    {
        Assert.Equal(144, sizeof(KernelLayout));              // struct Layout, common.cuh
        Assert.Equal(248, sizeof(AttentionArgs));             // struct AttnArgs, attention_args.cuh
        Assert.Equal(96, sizeof(CublasLtHeuristicResult));    // cublasLtMatmulHeuristicResult_t
        Assert.Equal(64, sizeof(CublasLtAlgo));
        Assert.Equal(48, sizeof(CudnnConvFwdAlgoPerf));       // cudnnConvolutionFwdAlgoPerf_t
        Assert.Equal(8, (int)Marshal.OffsetOf<KernelLayout>(nameof(KernelLayout.Offset)));
        Assert.Equal(240, (int)Marshal.OffsetOf<AttentionArgs>(nameof(AttentionArgs.Scale)));
        Assert.Equal(16, (int)Marshal.OffsetOf<CudnnConvFwdAlgoPerf>(nameof(CudnnConvFwdAlgoPerf.Memory)));
    }

    [Fact]
    public void EveryEmbeddedKernelSourceIsPresentAndDefinesTheKernelsCalled()
    {
        Assert.Equal(new[] { "attention", "attention_tc_d128", "attention_tc_d32", "attention_tc_d64", "attention_tc_d80", "attention_tc_d96",
            "conv", "copy", "linear_attention", "linear_norm_rope", "norms", "pointwise" }, KernelSources.Modules);
        Assert.True(KernelSources.Headers.TryGetValue("common.cuh", out var common) && common.Contains("struct Layout"));
        var calls = new Dictionary<string, string[]>
        {
            ["copy"] = ["copy_strided", "convert", "embedding_gather"],
            ["pointwise"] = ["activate_kernel", "scale_shift", "binary_bcast", "modulate", "gated_residual", "add_channel_bias", "rope", "merge_attention", "merge_lse"],
            ["norms"] = ["layer_norm", "rms_norm", "group_norm", "softmax_rows"],
            ["attention"] = ["flash_attention"],
            ["conv"] = ["grouped_conv2d"],
            ["linear_attention"] = ["linear_attention_sums", "linear_attention_apply"],
        };
        foreach (var m in KernelSources.Modules.Where(calls.ContainsKey))
        {
            var src = KernelSources.Source(m);
            Assert.False(string.IsNullOrWhiteSpace(src), m);
            Assert.Contains("#include \"common.cuh\"", src);
            foreach (var k in calls[m])
                Assert.Matches($@"extern ""C"" __global__ void (__launch_bounds__\([^)]*\) )?{k}\(", src);
        }

        // every tensor-core kernel AttentionLaunch can pick is instantiated, in the module it names, by TC_KERNELS(DP)
        Assert.True(KernelSources.Headers.TryGetValue("attention_tc.cuh", out var tc));
        Assert.Contains("flash_attention_tc_bf16_d##DP(AttnArgs a)", tc);
        Assert.Contains("flash_attention_tc_f16_d##DP(AttnArgs a)", tc);
        foreach (var dt in new[] { DType.BF16, DType.F16 })
            for (int d = 1; d <= AttentionLaunch.TensorCoreMaxHeadDim; d++)
            {
                var plan = AttentionLaunch.Plan(new AttentionArgs { B = 1, H = 1, Nq = 1, Nk = 1, D = d, DType = (int)dt });
                var dp = plan.Kernel[(plan.Kernel.LastIndexOf("_d", StringComparison.Ordinal) + 2)..];
                Assert.Equal($"attention_tc_d{dp}", plan.Module);
                var module = KernelSources.Source(plan.Module);
                Assert.Contains("#include \"attention_tc.cuh\"", module);
                Assert.Contains($"\nTC_KERNELS({dp})\n", module);
            }
    }

    [Fact]
    public void InfoCommandWorksWithoutCuda()
    {
        var w = new StringWriter();
        Assert.Equal(0, InfoCommand.Run(w));
        var lines = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("CPU backend: ", lines[0]);
        foreach (var label in new[] { "CUDA driver: ", "NVRTC: ", "cuBLAS: ", "cuBLASLt: ", "cuDNN: ", "NCCL: " })
            Assert.Single(lines, l => l.StartsWith(label));
        if (!CudaDevice.TryGetCount(out _, out _))
        {
            Assert.Contains(lines, l => l.StartsWith("CUDA driver: libcuda.so.1 not found"));
            Assert.Contains(lines, l => l.StartsWith("CUDA devices: none"));
        }
    }

    /// <summary>Without NVRTC the check says so and fails; with the emulator's stand-in every embedded module is
    /// compiled and named. A real NVRTC takes about a minute for all modules (and the GPU check compiles them all
    /// through the CUDA tests anyway), so there this test leaves it to <c>xdit info --compile-kernels</c>.</summary>
    [Fact]
    public void CompileKernelsNamesEveryModule()
    {
        bool found = CudaLibraries.Load(CudaLibraries.NvrtcSpec).Found;
        Assert.SkipWhen(found && !Emulation.EmulatedCuda.Active, "a real NVRTC: run `xdit info --compile-kernels sm_90` instead (about a minute)");
        var w = new StringWriter();
        int rc = KernelCompileCheck.Run(w, "sm_90");
        var text = w.ToString();
        if (!found)
        {
            Assert.Equal(1, rc);
            Assert.StartsWith("cannot compile the kernels: NVRTC not found", text);
            return;
        }
        Assert.True(rc == 0, text);
        foreach (var module in KernelSources.Modules)
            Assert.Contains($"  {module}: ok, ", text);
        Assert.Contains($"all {KernelSources.Modules.Count} modules compiled", text);
    }

    [Fact]
    public void CompileKernelsRefusesAMalformedArchitecture()
    {
        // The NVRTC-missing line is tested above; a real NVRTC answers as the stand-in does (NvrtcCompiler.PickArch).
        if (!CudaLibraries.Load(CudaLibraries.NvrtcSpec).Found) return;
        var w = new StringWriter();
        Assert.Equal(1, KernelCompileCheck.Run(w, "hopper"));
        Assert.Contains("'hopper' is not of the form sm_XX", w.ToString());
    }
}
