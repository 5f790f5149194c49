// native/kernels/attention_tc_d*.cu under the emulator: one translation unit for the five modules.
#include "cuda_emu.h"
#include "attention_tc_d32.cu"
#include "attention_tc_d64.cu"
#include "attention_tc_d80.cu"
#include "attention_tc_d96.cu"
#include "attention_tc_d128.cu"

XDIT_EMU_KERNEL(flash_attention_tc_bf16_d32)
XDIT_EMU_KERNEL(flash_attention_tc_f16_d32)
XDIT_EMU_KERNEL(flash_attention_tc_bf16_d64)
XDIT_EMU_KERNEL(flash_attention_tc_f16_d64)
XDIT_EMU_KERNEL(flash_attention_tc_bf16_d80)
XDIT_EMU_KERNEL(flash_attention_tc_f16_d80)
XDIT_EMU_KERNEL(flash_attention_tc_bf16_d96)
XDIT_EMU_KERNEL(flash_attention_tc_f16_d96)
XDIT_EMU_KERNEL(flash_attention_tc_bf16_d128)
XDIT_EMU_KERNEL(flash_attention_tc_f16_d128)
