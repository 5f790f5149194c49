// native/kernels/linear_attention.cu under the emulator.
#include "cuda_emu.h"
#include "linear_attention.cu"

XDIT_EMU_KERNEL(linear_attention_sums)
XDIT_EMU_KERNEL(linear_attention_apply)
