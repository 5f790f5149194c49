// native/kernels/linear_norm_rope.cu under the emulator.
#include "cuda_emu.h"
#include "linear_norm_rope.cu"

XDIT_EMU_KERNEL(linear_rms_norm_rope_bf16_d64)
XDIT_EMU_KERNEL(linear_rms_norm_rope_f16_d64)
XDIT_EMU_KERNEL(linear_rms_norm_rope_bf16_d128)
XDIT_EMU_KERNEL(linear_rms_norm_rope_f16_d128)
