/* Writing kernel packages (the compiler side; the runtime reads them).
 *
 * Collect spec records and their code images in a builder, then write the
 * package to a file or to memory. The output is a function of the records
 * and images alone: the same input gives a byte-identical file (fixed order,
 * every padding byte zero, no timestamps), so packages can be diffed and
 * cached. The layout is package_format.h's; kernels and images are placed
 * spec by spec, each spec's images sorted by (kind, sm), blobs 16-byte
 * aligned.
 *
 * Thread safety: a builder is used by one thread at a time. */
#ifndef SPLITKV_PACKAGE_H
#define SPLITKV_PACKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "splitkv/package_format.h"
#include "splitkv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct skv_package_builder skv_package_builder;

/* Makes an empty builder, owned by the caller (skv_package_builder_destroy).
 * Errors: OUT_OF_MEMORY. */
skv_status skv_package_builder_create(skv_package_builder **out_builder);

/* Frees the builder and every image it copied; NULL is fine. */
void skv_package_builder_destroy(skv_package_builder *builder);

/* Adds a spec: its record (copied; its kernel and image ranges are
 * ignored: the writer fills them) and its kernel set (kernel_count
 * descriptors, copied), and returns its index in *out_index. Errors:
 * INVALID_ARGUMENT when a field or kernel is invalid (skv_pkg_spec_check's
 * or skv_pkg_kernels_check's message) or the name is already in the
 * builder. */
skv_status skv_package_builder_add_spec(skv_package_builder *builder,
                                        const skv_pkg_spec *record,
                                        const skv_kernel_desc *kernels,
                                        uint32_t kernel_count, uint32_t *out_index);

/* Adds a code image (size bytes, copied) of kind for target sm (e.g. 90)
 * to spec spec_index, with what ptxas reported for each of the spec's
 * kernels (resources: one per kernel, in the order add_spec gave them;
 * copied). PTX text may come with or without its terminating NUL; the
 * package always holds it with one. Errors: INVALID_ARGUMENT for an
 * unknown spec index, a kind or sm that skv_pkg_image_check rejects or
 * resources skv_pkg_resources_check rejects (their message), an empty
 * image, or a second image of the same kind and sm for the spec. */
skv_status skv_package_builder_add_image(skv_package_builder *builder,
                                         uint32_t spec_index, skv_image_kind kind,
                                         uint32_t sm,
                                         const skv_kernel_resources *resources,
                                         const void *bytes, size_t size);

/* Writes the package to memory: *out_data (malloc'd, the caller frees it)
 * holds *out_size bytes. The result is verified with skv_pkg_verify before
 * it is returned. Errors: INVALID_ARGUMENT when a spec has no image or the
 * builder has no spec, OUT_OF_MEMORY, INTERNAL if verification fails. */
skv_status skv_package_builder_write_memory(const skv_package_builder *builder,
                                            uint8_t **out_data,
                                            size_t *out_size);

/* Writes the package to path, atomically: into "<path>.tmp", then renamed,
 * so a reader never sees half a package. Errors: those of write_memory,
 * IO_ERROR naming the path. */
skv_status skv_package_builder_write_file(const skv_package_builder *builder,
                                          const char *path);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_PACKAGE_H */
