/* The compile pipeline: spec -> MLIR (GPU dialect) -> NVVM/LLVM -> PTX
 * in-process through the MLIR C API, then PTX -> cubin with the toolkit's
 * ptxas. skv_compile_spec is the pipeline up to PTX as one list of stage
 * calls (--emit=STAGE stops after any stage); a package adds
 * skv_pipeline_assemble for the cubin. */
#ifndef SPLITKV_PIPELINE_H
#define SPLITKV_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include <mlir-c/IR.h>

#include "splitkv/codegen.h"
#include "splitkv/spec.h"
#include "splitkv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An MLIR context with every dialect, pass and LLVM translation registered,
 * and a diagnostic handler that turns MLIR errors into skv_status messages.
 * Not thread-safe: one compiler per thread. */
typedef struct skv_compiler skv_compiler;

skv_status skv_compiler_create(const char *cuda_root, skv_compiler **out_compiler);
void skv_compiler_destroy(skv_compiler *compiler);

/* The CUDA toolkit the compiler was created with (borrowed). */
const char *skv_compiler_cuda_root(const skv_compiler *compiler);

/* The stages a compile can stop after (splitkv-compile --emit): the
 * pipeline's text stages, then what lib/package makes of them. */
typedef enum skv_emit {
  SKV_EMIT_MLIR,    /* GPU dialect, before lowering */
  SKV_EMIT_LLVM,    /* LLVM IR of the kernels (NVPTX) */
  SKV_EMIT_PTX,
  SKV_EMIT_PACKAGE, /* a kernel package (compile.h) */
  SKV_EMIT_C,       /* C source embedding a package (compile.h) */
} skv_emit;

/* Folds constants and common subexpressions of the generated kernels, still
 * in the GPU dialect. */
skv_status skv_pipeline_simplify(skv_compiler *compiler, MlirModule module);

/* Lowers the module in place: GPU dialect -> NVVM and LLVM dialects, with
 * the NVVM target attached for sm. Errors: COMPILE_ERROR with the MLIR
 * diagnostics. */
skv_status skv_pipeline_lower(skv_compiler *compiler, MlirModule module, int sm);

/* The LLVM IR of a lowered module's kernels; *out_text is malloc'ed and
 * owned by the caller. */
skv_status skv_pipeline_translate_llvm(skv_compiler *compiler, MlirModule module,
                                       char **out_text);

/* Serialises a lowered module to PTX (gpu-module-to-binary, LLVM NVPTX
 * backend) and checks it: an unresolved external function (libdevice not
 * found) is an error even when the pass manager reports success.
 * *out_ptx is malloc'ed and owned by the caller. */
skv_status skv_pipeline_emit_ptx(skv_compiler *compiler, MlirModule module,
                                 char **out_ptx);

/* The whole pipeline for one spec and one target, stopping after stage
 * `emit` (MLIR, LLVM or PTX): plan, build, lower, translate or serialise.
 * On success *out_text (malloc'ed, caller-owned) holds the stage's text and
 * *out_plan the plan. Errors: INVALID_ARGUMENT for another stage; those of
 * the stages. */
skv_status skv_compile_spec(skv_compiler *compiler, const skv_spec *spec,
                            int sm, skv_emit emit, skv_kernel_plan *out_plan,
                            char **out_text);

/* One spec's kernels compiled to machine code for one target. */
typedef struct skv_cubin {
  uint8_t *data; /* the ELF image, malloc'ed: free() */
  size_t size;
  /* What ptxas reported for each kernel of the plan, in its order. */
  skv_kernel_resources resources[SKV_MAX_KERNELS];
} skv_cubin;

/* Compiles ptx (NUL-terminated) for plan->sm (plain sm_XY, not the
 * arch-specific sm_XYa) with the toolkit's ptxas (<cuda_root>/bin/ptxas
 * -O3 -v, whole-program, as the driver's JIT compiles PTX; files in a
 * scratch directory under $TMPDIR, removed after), and reads the kernel's
 * registers, shared memory, stack and spills from its report. The same PTX
 * always gives the same bytes. On success *out_cubin owns its data. Errors:
 * COMPILE_ERROR with ptxas's messages, or when ptxas cannot be run;
 * IO_ERROR for the scratch files; INTERNAL when the report lacks a kernel
 * of the plan. */
skv_status skv_pipeline_assemble(skv_compiler *compiler, const char *ptx,
                                 const skv_kernel_plan *plan,
                                 skv_cubin *out_cubin);

/* Reads what ptxas -v reported for kernel entry from its report (log): the
 * "Function properties for ENTRY" line, then its stack frame and spill line
 * and its "Used N registers, ..., S bytes smem" line. Errors: INTERNAL when
 * the log has no such kernel or lacks either line. */
skv_status skv_ptxas_info_find(const char *log, const char *entry,
                               skv_kernel_resources *out_resources);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_PIPELINE_H */
