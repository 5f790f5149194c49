// native/kernels/norms.cu under the emulator.
#include "cuda_emu.h"
#include "norms.cu"

XDIT_EMU_KERNEL(layer_norm)
XDIT_EMU_KERNEL(rms_norm)
XDIT_EMU_KERNEL(group_norm)
XDIT_EMU_KERNEL(channel_rms_norm)
XDIT_EMU_KERNEL(softmax_rows)
XDIT_EMU_KERNEL(layer_norm_modulate)
XDIT_EMU_KERNEL(rms_norm_modulate)
XDIT_EMU_KERNEL(residual_layer_norm_modulate)
XDIT_EMU_KERNEL(rms_norm_gated_residual)
XDIT_EMU_KERNEL(rms_norm_rope)
XDIT_EMU_KERNEL(layer_norm_rope)
XDIT_EMU_KERNEL(row_rms_norm_rope)
