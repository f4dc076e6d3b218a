/* The kernel generators of lib/codegen (internal). Each appends one gpu.func
 * to the gpu.module body it is given, following kernel_abi.h. */
#ifndef SPLITKV_CODEGEN_KERNELS_H
#define SPLITKV_CODEGEN_KERNELS_H

#include "builder.h"
#include "splitkv/codegen.h"

#define SKV_LOG2E 1.4426950408889634
#define SKV_LN2 0.6931471805599453
/* Warps per split CTA at most (each takes its own tokens). */
#define SKV_MAX_WARPS 4

/* A gpu.func kernel under construction: its entry block is the builder's
 * block after skv_kernel_begin. */
typedef struct skv_kernel_arg {
  MlirType type;
  int readonly; /* input buffers get llvm.noalias + llvm.readonly */
} skv_kernel_arg;

/* Appends gpu.func @name with the given arguments and workgroup buffers
 * to module_body, moves b into its entry block, and returns the block
 * arguments: args first, then one value per shared buffer. */
void skv_kernel_begin(skv_builder *b, MlirBlock module_body, const char *name,
                      int n_args, const skv_kernel_arg *args, int n_shared,
                      const MlirType *shared, int block_size,
                      MlirValue *out_values);
/* Appends gpu.return. */
void skv_kernel_end(skv_builder *b);

/* The element type of the spec's dtype (bf16 or f16). */
MlirType skv_dtype_type(skv_builder *b, skv_dtype dtype);

void skv_codegen_split_kernel(skv_builder *b, MlirBlock module_body,
                              const skv_spec *spec, const skv_kernel_plan *plan);

#endif /* SPLITKV_CODEGEN_KERNELS_H */
