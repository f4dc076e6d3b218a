/* Code generation: a spec and a target become a plan (the kernel set and
 * how each kernel is shaped), and the plan an MLIR module holding one
 * gpu.module with the kernels of kernel_abi.h, built op by op with the MLIR
 * C API and specialised on the spec's constants. */
#ifndef SPLITKV_CODEGEN_H
#define SPLITKV_CODEGEN_H

#include <mlir-c/IR.h>

#include "splitkv/kernel_abi.h"
#include "splitkv/spec.h"
#include "splitkv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the kernels of one spec are shaped for one target: derived from the
 * spec (head dim, GQA group) and the target, never hand-picked per model. */
typedef struct skv_kernel_plan {
  int sm;                /* target, e.g. 90 */
  int group;             /* q heads per kv head (G) */
  int rows;              /* query rows per kv head at max_query_len:
                            max_query_len x G (target.h) */
  int head_tiles;        /* CTAs that share a kv head's rows at
                            max_query_len (target.h) */
  int tile_heads;        /* rows per CTA (R), the mma's M rows */
  int upper_rows;        /* R > 8: the mma rows 8..15 hold rows too */
  int warps;             /* warps per CTA of the narrow split kernel (two
                            CTAs per SM) */
  int dim_split;         /* warps sharing a token stream, each with 1 /
                            dim_split of the dims of Q, K, V and the output */
  int warp_tokens;       /* tokens per stream per loop step: 16 or 32, the
                            k of the P·V mmas (one or two k16) */
  int pair_scores;       /* dim_split 2: floats of its partial S a lane
                            passes its pair per step (the group's rows of
                            each n8 tile); 0 otherwise */
  int split_max_regs;    /* register caps (ptxas .maxnreg, 0: none) that let */
  int combine_max_regs;  /* two split CTAs and a combine CTA share an SM */
  int segment_tokens;    /* the balanced partition's cost of a segment
                            beyond its tokens, in tokens (kernel_abi.h) */
  int grid_dependency;   /* sm_90+: waits on griddepcontrol before touching
                            memory, so it may be launched programmatically
                            dependent on the previous kernel (kernel_abi.h) */
  /* The kernel set, in the order the module and the package hold it: the
   * narrow split kernel (two CTAs per SM), the wide one where twice its
   * token streams' shared memory fits (one CTA per SM, twice the warps),
   * the combine kernel (up to 2 warps, each a slice of 8 output dims at 32
   * lanes; the runtime may pick fewer lanes, kernel_abi.h). */
  skv_kernel_desc kernels[SKV_MAX_KERNELS];
  int kernel_count;
} skv_kernel_plan;

/* Derives the plan for spec on target sm (lib/codegen/plan.c). Errors:
 * UNSUPPORTED when the spec's GQA group and head dim need more shared
 * memory or registers than this generator provides (the message says
 * which). */
skv_status skv_codegen_plan(const skv_spec *spec, int sm,
                            skv_kernel_plan *out_plan);

/* Builds the module (owned by the caller: mlirModuleDestroy) in ctx, whose
 * dialects must be registered (skv_compiler_create does it). Errors:
 * INTERNAL when the built module fails to verify (a generator bug; the MLIR
 * diagnostics are in the message when ctx collects them). */
skv_status skv_codegen_build(MlirContext ctx, const skv_spec *spec,
                             const skv_kernel_plan *plan,
                             MlirModule *out_module);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_CODEGEN_H */
