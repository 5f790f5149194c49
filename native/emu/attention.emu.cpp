// native/kernels/attention.cu under the emulator.
#include "cuda_emu.h"
#include "attention.cu"

XDIT_EMU_KERNEL(flash_attention)
