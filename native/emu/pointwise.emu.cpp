// native/kernels/pointwise.cu under the emulator.
#include "cuda_emu.h"
#include "pointwise.cu"

XDIT_EMU_KERNEL(activate_kernel)
XDIT_EMU_KERNEL(geglu)
XDIT_EMU_KERNEL(swiglu)
XDIT_EMU_KERNEL(scale_shift)
XDIT_EMU_KERNEL(binary_bcast)
XDIT_EMU_KERNEL(modulate)
XDIT_EMU_KERNEL(gated_residual)
XDIT_EMU_KERNEL(add_channel_bias)
XDIT_EMU_KERNEL(gate_alpha_bias)
XDIT_EMU_KERNEL(gate_alpha_bias_n)
XDIT_EMU_KERNEL(rope)
XDIT_EMU_KERNEL(merge_attention)
XDIT_EMU_KERNEL(merge_lse)
