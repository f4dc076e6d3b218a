/* The compile pipeline: spec -> MLIR (GPU dialect) -> NVVM/LLVM -> PTX, all
 * in-process through the MLIR C API. skv_compile_spec is the whole pipeline
 * as one list of stage calls; --emit=STAGE stops after any stage. */
#ifndef SPLITKV_PIPELINE_H
#define SPLITKV_PIPELINE_H

#include <stddef.h>

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
MlirContext skv_compiler_context(skv_compiler *compiler);

typedef enum skv_emit {
  SKV_EMIT_MLIR,  /* GPU dialect, before lowering */
  SKV_EMIT_LLVM,  /* LLVM IR of the kernels (NVPTX) */
  SKV_EMIT_PTX,
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
 * `emit`: plan, build, lower, translate or serialise. On success *out_text
 * (malloc'ed, caller-owned) holds the stage's text and *out_plan the plan. */
skv_status skv_compile_spec(skv_compiler *compiler, const skv_spec *spec,
                            int sm, skv_emit emit, skv_kernel_plan *out_plan,
                            char **out_text);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_PIPELINE_H */
