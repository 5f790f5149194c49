// native/kernels/copy.cu under the emulator.
#include "cuda_emu.h"
#include "copy.cu"

XDIT_EMU_KERNEL(copy_strided)
XDIT_EMU_KERNEL(convert)
XDIT_EMU_KERNEL(embedding_gather)
XDIT_EMU_KERNEL(im2col)
XDIT_EMU_KERNEL(copy_rows)
XDIT_EMU_KERNEL(upsample_nearest)
