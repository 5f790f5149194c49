// Tensor-core flash attention for head dims padded to 80 (attention_tc.cuh), bf16 and f16.
#include "attention_tc.cuh"

TC_KERNELS(80)
