/* The decoded records of an open package and of a loaded attention, for
 * the build's own tools and tests (splitkv-inspect, splitkv-bench, the GPU
 * tests). Engines use runtime.h's skv_spec_info instead: these records
 * follow the package format, which changes between versions.
 *
 * Not exported from libsplitkv_runtime.so; link the static library. */
#ifndef SPLITKV_PACKAGE_RECORDS_H
#define SPLITKV_PACKAGE_RECORDS_H

#include "splitkv/package_format.h"
#include "splitkv/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The package's decoded header (borrowed): format and kernel ABI versions,
 * file size, the version of the compiler that wrote it, table sizes. */
const skv_pkg_header *skv_package_header(const skv_package *package);

/* Spec record i (borrowed; NULL when i is out of range). */
const skv_pkg_spec *skv_package_spec_at(const skv_package *package, uint32_t i);

/* Kernel record i (borrowed; NULL when i is out of range). Spec s's
 * kernels are [s->first_kernel, s->first_kernel + s->kernel_count). */
const skv_kernel_desc *skv_package_kernel_at(const skv_package *package, uint32_t i);

/* Image record i (borrowed; NULL when i is out of range). Spec s's images
 * are [s->first_image, s->first_image + s->image_count). */
const skv_pkg_image *skv_package_image_at(const skv_package *package, uint32_t i);

/* Resource record i (borrowed; NULL when i is out of range). Image m's
 * kernels' resources are [m->first_resource, +m->resource_count), in its
 * spec's kernel order. */
const skv_kernel_resources *skv_package_resources_at(const skv_package *package,
                                                         uint32_t i);

/* The spec record of a loaded attention (its own copy, borrowed from it:
 * valid until skv_attention_destroy, whether or not the package is). */
const skv_pkg_spec *skv_attention_record(const skv_attention *attention);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_PACKAGE_RECORDS_H */
