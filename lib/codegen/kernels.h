/* The kernel generators of lib/codegen (internal). Each appends one gpu.func
 * to the gpu.module body it is given, following kernel_abi.h. */
#ifndef SPLITKV_CODEGEN_KERNELS_H
#define SPLITKV_CODEGEN_KERNELS_H

#include "builder.h"
#include "splitkv/codegen.h"
#include "splitkv/kernel_abi.h"

#define SKV_LOG2E 1.4426950408889634
#define SKV_LN2 0.6931471805599453
/* Warps per split CTA where two CTAs share an SM (a narrow launch); a
 * wide launch, one CTA per SM, has twice as many. */
#define SKV_MAX_WARPS 4

/* Shared memory (floats) through which the warps of a token stream
 * (dim_split 2 or 4) add up their shares of S: two parities of a slot per
 * warp, 32 lanes of plan->pair_scores floats each (split_kernel.c). The
 * plan budgets it, the split kernel lays it out. */
static inline int skv_pair_parity_floats(const skv_kernel_plan *plan) {
  return plan->dim_split * 32 * plan->pair_scores;
}
static inline int skv_pair_stream_floats(const skv_kernel_plan *plan) {
  return 2 * skv_pair_parity_floats(plan);
}

/* One argument of a kernel_abi.h list: `SKV_SPLIT_KERNEL_ARGS(SKV_ABI_ARG)`
 * inside an array initialiser gives the whole list. */
typedef struct skv_abi_arg {
  skv_abi_type type;
  skv_abi_access access;
} skv_abi_arg;
#define SKV_ABI_ARG(name, type, access) {SKV_ABI_##type, SKV_ABI_##access},
/* Argument indices in a list: `enum { SKV_SPLIT_KERNEL_ARGS(SKV_ABI_INDEX)
 * NUM_ARGS }` gives ARG_q, ARG_k, ... */
#define SKV_ABI_INDEX(name, type, access) ARG_##name,

/* Appends gpu.func @name taking the n_args arguments of an ABI list (its
 * pointers typed for dtype: global buffers passed as bare pointers, IN ones
 * noalias + readonly, OUT ones noalias) and the given workgroup buffers,
 * block_size threads and at most max_regs registers per thread (0: no cap),
 * to module_body; moves b into its entry block, and returns the block
 * arguments: args first, then one value per shared buffer. */
void skv_kernel_begin(skv_builder *b, MlirBlock module_body, const char *name,
                      skv_dtype dtype, int n_args, const skv_abi_arg *args, int n_shared,
                      const MlirType *shared, int block_size, int max_regs,
                      MlirValue *out_values);
/* Appends gpu.return. */
void skv_kernel_end(skv_builder *b);

/* The element type of the spec's dtype (bf16 or f16). */
MlirType skv_dtype_type(skv_builder *b, skv_dtype dtype);

/* m, or 0 where m is -inf (a row that has seen no token yet): exp2
 * offsets from it stay finite. */
MlirValue skv_softmax_safe_max(skv_builder *b, MlirValue m);

/* The normalised output (8 x f32) and natural-log LSE of a softmax whose
 * largest exponent (exp2 domain, made finite) is base, its sum `sum` and its
 * weighted values acc (8 x f32). No token at all: output 0, LSE -inf. */
void skv_softmax_finish(skv_builder *b, MlirValue base, MlirValue sum,
                        MlirValue acc, MlirValue *out_values,
                        MlirValue *out_lse);

/* Stores 8 dims (values, already in the buffer's element type) of row
 * `row` at dims d .. d+7 of out_buf (head_dim elements per row), and with
 * d == 0 the row's LSE at lse_buf[row]: a finished softmax, final or
 * partial. */
void skv_softmax_store(skv_builder *b, MlirValue values, MlirValue lse,
                       MlirValue out_buf, MlirValue lse_buf, MlirValue row,
                       MlirValue d, int head_dim);

/* The generators of the roles of kernel_abi.h: kernel is the plan's entry
 * for it (its name and block; a split kernel's token streams follow from
 * its warps). */
void skv_codegen_split_kernel(skv_builder *b, MlirBlock module_body, const skv_spec *spec,
                              const skv_kernel_plan *plan, const skv_kernel_desc *kernel);
void skv_codegen_combine_kernel(skv_builder *b, MlirBlock module_body, const skv_spec *spec,
                                const skv_kernel_plan *plan, const skv_kernel_desc *kernel);

#endif /* SPLITKV_CODEGEN_KERNELS_H */
