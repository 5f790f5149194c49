// A CPU stand-in for NVRTC (libnvrtc.so.13), paired with fake_driver.cpp: the kernels themselves are compiled into
// the emulator library ahead of time (native/emu/*.emu.cpp), so "compiling" a program only checks its options and
// yields a "CUBIN" that names the module, which the fake cuModuleLoadData accepts. It reports NVRTC 13.0 with
// sm_90 as its only architecture, so NvrtcCompiler picks sm_90 as it would on an H100 and its on-disk cache key
// stays apart from a real NVRTC's only through the cache folder (the tests give the emulator its own).
#include <cstddef>
#include <cstring>
#include <string>

namespace
{
    enum : int
    {
        NVRTC_SUCCESS = 0,
        NVRTC_ERROR_INVALID_INPUT = 3,
        NVRTC_ERROR_INVALID_PROGRAM = 4,
        NVRTC_ERROR_INVALID_OPTION = 5,
    };

    struct Program
    {
        std::string name, image, log;
    };
}

extern "C"
{
    const char* nvrtcGetErrorString(int r)
    {
        switch (r)
        {
            case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
            case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
            case NVRTC_ERROR_INVALID_PROGRAM: return "NVRTC_ERROR_INVALID_PROGRAM";
            case NVRTC_ERROR_INVALID_OPTION: return "NVRTC_ERROR_INVALID_OPTION";
            default: return "NVRTC_ERROR_UNKNOWN";
        }
    }

    int nvrtcVersion(int* major, int* minor)
    {
        *major = 13;
        *minor = 0;
        return NVRTC_SUCCESS;
    }

    int nvrtcGetNumSupportedArchs(int* n)
    {
        *n = 1;
        return NVRTC_SUCCESS;
    }

    int nvrtcGetSupportedArchs(int* archs)
    {
        archs[0] = 90;
        return NVRTC_SUCCESS;
    }

    int nvrtcCreateProgram(void** prog, const char* src, const char* name, int numHeaders, const char* const* headers, const char* const* includeNames)
    {
        if (!prog || !src || numHeaders < 0 || (numHeaders > 0 && (!headers || !includeNames))) return NVRTC_ERROR_INVALID_INPUT;
        std::string n = name ? name : "default_program";
        if (n.size() > 3 && n.compare(n.size() - 3, 3, ".cu") == 0) n.resize(n.size() - 3);
        *prog = new Program{ n, "", "" };
        return NVRTC_SUCCESS;
    }

    int nvrtcDestroyProgram(void** prog)
    {
        if (!prog || !*prog) return NVRTC_ERROR_INVALID_PROGRAM;
        delete static_cast<Program*>(*prog);
        *prog = nullptr;
        return NVRTC_SUCCESS;
    }

    int nvrtcCompileProgram(void* prog, int numOptions, const char* const* options)
    {
        auto* p = static_cast<Program*>(prog);
        if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
        for (int i = 0; i < numOptions; ++i)
            if (!options[i] || options[i][0] != '-')
            {
                p->log = std::string("invalid option: ") + (options[i] ? options[i] : "(null)");
                return NVRTC_ERROR_INVALID_OPTION;
            }
        p->image = "XDITEMU\n" + p->name;
        return NVRTC_SUCCESS;
    }

    int nvrtcGetProgramLogSize(void* prog, std::size_t* size)
    {
        auto* p = static_cast<Program*>(prog);
        if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
        *size = p->log.size() + 1;
        return NVRTC_SUCCESS;
    }

    int nvrtcGetProgramLog(void* prog, char* log)
    {
        auto* p = static_cast<Program*>(prog);
        if (!p) return NVRTC_ERROR_INVALID_PROGRAM;
        std::memcpy(log, p->log.c_str(), p->log.size() + 1);
        return NVRTC_SUCCESS;
    }

    int nvrtcGetCUBINSize(void* prog, std::size_t* size)
    {
        auto* p = static_cast<Program*>(prog);
        if (!p || p->image.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
        *size = p->image.size() + 1;
        return NVRTC_SUCCESS;
    }

    int nvrtcGetCUBIN(void* prog, char* cubin)
    {
        auto* p = static_cast<Program*>(prog);
        if (!p || p->image.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
        std::memcpy(cubin, p->image.c_str(), p->image.size() + 1);
        return NVRTC_SUCCESS;
    }
}
