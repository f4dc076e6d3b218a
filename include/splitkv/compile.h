/* Compiling specs into what splitkv-compile writes: every spec of a list
 * for each of its targets, stopped after one stage (MLIR, LLVM IR or PTX
 * text), or assembled into a kernel package (the pipeline's PTX, ptxas's
 * cubin and resources, the spec's record and kernel set), or C source that
 * embeds the package. The library's one entry point for a whole compile;
 * splitkv-compile only parses its arguments and calls skv_compile.
 *
 * Not thread-safe: one compiler per thread (pipeline.h). */
#ifndef SPLITKV_COMPILE_H
#define SPLITKV_COMPILE_H

#include "splitkv/package.h"
#include "splitkv/pipeline.h"
#include "splitkv/spec.h"
#include "splitkv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which images a package holds per target. */
typedef enum skv_images {
  SKV_IMAGES_PTX = 1,   /* PTX only: the driver JIT-compiles it */
  SKV_IMAGES_CUBIN = 2, /* cubins only */
  SKV_IMAGES_BOTH = 3,  /* a cubin, and PTX for newer GPUs */
} skv_images;

typedef struct skv_compile_options {
  skv_emit emit;
  skv_images images;    /* SKV_EMIT_PACKAGE and SKV_EMIT_C */
  const int *targets;   /* sm numbers built for every spec instead of each
                           spec's own (borrowed), or NULL */
  int num_targets;
  const char *c_symbol; /* SKV_EMIT_C: the function returning the bytes, a
                           C identifier; NULL: skv_package_<first spec> */
} skv_compile_options;

/* Compiles every spec of specs (borrowed, at least one) for its targets as
 * options say and writes the result to path: a text stage's module (one per
 * spec and target, after a comment line naming them) to the file path, or,
 * when there are several or path is a directory, each to its own file
 * SPEC_sm_TARGET.mlir|ll|ptx in directory path (made if missing); or the
 * package, or the C source. A package is written atomically (package.h);
 * path NULL writes one module or C to stdout and is an error for a package
 * or several modules. Errors: INVALID_ARGUMENT (bad options, several
 * modules and no directory), those of the pipeline (COMPILE_ERROR,
 * UNSUPPORTED for a spec this generator cannot build), IO_ERROR. */
skv_status skv_compile(skv_compiler *compiler, const skv_spec_list *specs,
                       const skv_compile_options *options, const char *path);

/* The package of every spec for its targets in a new builder (*out_builder,
 * owned by the caller): per spec and target the pipeline's PTX, assembled
 * by ptxas (which also checks it and reports the kernels' resources), then
 * the images options->images asks for. */
skv_status skv_package_compile(skv_compiler *compiler, const skv_spec_list *specs,
                               const skv_compile_options *options,
                               skv_package_builder **out_builder);

/* A spec's package record: its name and fields (the kernel and image
 * ranges left for the writer). */
void skv_package_record(const skv_spec *spec, skv_pkg_spec *out_record);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_COMPILE_H */
