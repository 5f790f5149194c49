// native/kernels/conv.cu under the emulator.
#include "cuda_emu.h"
#include "conv.cu"

XDIT_EMU_KERNEL(grouped_conv2d)
