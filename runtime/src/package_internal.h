/* The package object, shared by package.c and attention.c.
 *
 * Internal to the runtime. */
#ifndef SPLITKV_RUNTIME_PACKAGE_INTERNAL_H
#define SPLITKV_RUNTIME_PACKAGE_INTERNAL_H

#include "splitkv/package_records.h"

/* A verified package: its bytes (owned copy) and every record decoded once,
 * so lookups never touch the byte layout again. */
struct skv_package {
  uint8_t *data;
  size_t size;
  skv_pkg_header header;
  skv_pkg_spec *specs;                 /* header.spec_count records */
  skv_kernel_desc *kernels;             /* header.kernel_count */
  skv_pkg_image *images;               /* header.image_count */
  skv_kernel_resources *resources; /* header.resource_count */
};

/* SHA-256 of size bytes at data into out (sha256.c). */
void skv_sha256(const uint8_t *data, size_t size, uint8_t out[32]);

/* The public view of a spec record. */
void skv_pkg_spec_info(const skv_pkg_spec *record, skv_spec_info *out_info);

#endif /* SPLITKV_RUNTIME_PACKAGE_INTERNAL_H */
