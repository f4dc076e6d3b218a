/* Package bytes laid out by hand, for tests that need packages the writer
 * refuses to write (hostile tables, more specs than a package may hold) or
 * that build without the compiler: the header and the four tables at the
 * offsets the format prescribes, blobs_size bytes of blobs after them, the
 * caller encoding each record in place (skv_pkg_*_encode) before sealing
 * (file size and checksum). */
#ifndef SPLITKV_TEST_UNIT_PKG_BYTES_H
#define SPLITKV_TEST_UNIT_PKG_BYTES_H

#include <stdlib.h>
#include <string.h>

#include "splitkv/package_format.h"

typedef struct skv_test_pkg {
  uint8_t *data; /* owned: free() it */
  size_t size;
  skv_pkg_header header;
  uint64_t blobs_at; /* where the first blob goes (aligned) */
} skv_test_pkg;

/* The zeroed file for these counts; data is NULL if it cannot be had. */
static inline skv_test_pkg skv_test_pkg_begin(uint32_t specs, uint32_t kernels,
                                              uint32_t images, uint32_t resources,
                                              uint64_t blobs_size) {
  skv_test_pkg p;
  memset(&p, 0, sizeof(p));
  skv_pkg_header *h = &p.header;
  h->format_version = SKV_PACKAGE_FORMAT_VERSION;
  h->abi_version = SKV_KERNEL_ABI_VERSION;
  h->spec_count = specs;
  h->kernel_count = kernels;
  h->image_count = images;
  h->resource_count = resources;
  h->specs_offset = SKV_PKG_HEADER_SIZE;
  h->kernels_offset = h->specs_offset + (uint64_t)specs * SKV_PKG_SPEC_SIZE;
  h->images_offset = h->kernels_offset + (uint64_t)kernels * SKV_PKG_KERNEL_SIZE;
  h->resources_offset = h->images_offset + (uint64_t)images * SKV_PKG_IMAGE_SIZE;
  uint64_t end = h->resources_offset + (uint64_t)resources * SKV_PKG_RESOURCES_SIZE;
  p.blobs_at = (end + SKV_PKG_BLOB_ALIGN - 1) / SKV_PKG_BLOB_ALIGN * SKV_PKG_BLOB_ALIGN;
  p.size = (size_t)(p.blobs_at + blobs_size);
  h->file_size = p.size;
  strcpy(h->compiler_version, "test");
  p.data = calloc(1, p.size);
  return p;
}

static inline uint8_t *skv_test_pkg_spec(const skv_test_pkg *p, uint32_t i) {
  return p->data + p->header.specs_offset + (uint64_t)i * SKV_PKG_SPEC_SIZE;
}
static inline uint8_t *skv_test_pkg_kernel(const skv_test_pkg *p, uint32_t i) {
  return p->data + p->header.kernels_offset + (uint64_t)i * SKV_PKG_KERNEL_SIZE;
}
static inline uint8_t *skv_test_pkg_image(const skv_test_pkg *p, uint32_t i) {
  return p->data + p->header.images_offset + (uint64_t)i * SKV_PKG_IMAGE_SIZE;
}
static inline uint8_t *skv_test_pkg_resources(const skv_test_pkg *p, uint32_t i) {
  return p->data + p->header.resources_offset + (uint64_t)i * SKV_PKG_RESOURCES_SIZE;
}

/* Writes the header with a checksum over everything, as the writer does. */
static inline void skv_test_pkg_seal(skv_test_pkg *p) {
  p->header.checksum = 0;
  skv_pkg_header_encode(&p->header, p->data);
  p->header.checksum = skv_pkg_file_checksum(p->data, p->size);
  skv_pkg_header_encode(&p->header, p->data);
}

#endif /* SPLITKV_TEST_UNIT_PKG_BYTES_H */
