/* Hostile packages, each with a valid checksum, refused (or, at the limits,
 * accepted) in bounded time: the verifier's work is linear in the tables
 * plus a sort of the names, and the counts are capped at what a real
 * package can hold (issue 23, item 2). Times are generous bounds for a
 * sanitizer build on a loaded machine; the quadratic verifier this
 * replaced took 193 s on the first package and tens of seconds on the
 * second. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "splitkv/package_format.h"
#include "splitkv/runtime.h"

#include "check.h"
#include "pkg_bytes.h"
#include "pkg_record.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Opens p's bytes, expecting `code` (OK: accepted) with text in the
 * message, within max_s seconds; returns the seconds taken. */
static double open_timed(const skv_test_pkg *p, skv_status_code code, const char *text,
                         double max_s, int line) {
  skv_package *pkg = NULL;
  double start = now_s();
  skv_status status = skv_package_open_memory(p->data, p->size, &pkg);
  double took = now_s() - start;
  printf("  %zu bytes, %u specs: %s in %.3f s\n", p->size, p->header.spec_count,
         status ? "refused" : "accepted", took);
  if (code == SKV_CODE_OK) {
    if (status) {
      fprintf(stderr, "line %d: expected the package to open: %s\n", line,
              skv_status_message(status));
      ++failures;
      skv_status_free(status);
    }
  } else {
    check_error(status, code, text, line);
  }
  skv_package_destroy(pkg);
  CHECK_MSG(took < max_s, "line %d: took %.3f s, more than %.1f", line, took, max_s);
  return took;
}

/* The blob every image of the first package shares: an ELF file (for the
 * cubins) ending in a NUL (for the PTX). */
static const uint8_t shared_blob[16] = {0x7f, 'E', 'L', 'F'};

/* Issue 23's package: 3,000 specs, each listing the same 1,980 images (every
 * kind and sm the image check allows) over one shared blob. The old
 * verifier compared every image of every spec with every other (193 s). */
static void test_shared_images(void) {
  printf("shared_images\n");
  enum { SPECS = 3000, IMAGES = 2 * 990 };
  skv_test_pkg p = skv_test_pkg_begin(SPECS, SKV_TEST_KERNELS, IMAGES,
                                      IMAGES * SKV_TEST_KERNELS, sizeof(shared_blob));
  CHECK(p.data != NULL);
  if (!p.data)
    return;
  for (uint32_t s = 0; s < SPECS; ++s) {
    char name[SKV_NAME_MAX];
    snprintf(name, sizeof(name), "spec_%u", s);
    skv_pkg_spec r = skv_test_pkg_record(name, 128, 32, 8, SKV_DTYPE_BF16, 0);
    r.first_kernel = 0;
    r.kernel_count = SKV_TEST_KERNELS;
    r.first_image = 0;
    r.image_count = IMAGES;
    skv_pkg_spec_encode(&r, skv_test_pkg_spec(&p, s));
  }
  skv_kernel_desc kernels[SKV_TEST_KERNELS];
  skv_test_pkg_kernels("spec", kernels);
  for (uint32_t k = 0; k < SKV_TEST_KERNELS; ++k)
    skv_pkg_kernel_encode(&kernels[k], skv_test_pkg_kernel(&p, k));
  for (uint32_t i = 0; i < IMAGES; ++i) {
    skv_pkg_image m = {.kind = i < IMAGES / 2 ? SKV_IMAGE_PTX : SKV_IMAGE_CUBIN,
                       .sm = 10 + i % (IMAGES / 2),
                       .offset = p.blobs_at,
                       .size = sizeof(shared_blob),
                       .first_resource = i * SKV_TEST_KERNELS,
                       .resource_count = SKV_TEST_KERNELS};
    skv_pkg_image_encode(&m, skv_test_pkg_image(&p, i));
  }
  memcpy(p.data + p.blobs_at, shared_blob, sizeof(shared_blob));
  skv_test_pkg_seal(&p);
  open_timed(&p, SKV_CODE_CORRUPT_PACKAGE, "images, more than 64", 1.0, __LINE__);
  free(p.data);
}

/* n specs of one image each (a 16-byte cubin blob), with names that share a
 * long prefix, as a package at the cap would have them. */
static skv_test_pkg many_specs(uint32_t n) {
  skv_test_pkg p = skv_test_pkg_begin(n, n * SKV_TEST_KERNELS, n, n * SKV_TEST_KERNELS,
                                      (uint64_t)n * SKV_PKG_BLOB_ALIGN);
  if (!p.data)
    return p;
  skv_kernel_desc kernels[SKV_TEST_KERNELS];
  skv_test_pkg_kernels("many", kernels);
  for (uint32_t s = 0; s < n; ++s) {
    char name[SKV_NAME_MAX];
    snprintf(name, sizeof(name), "a_model_with_a_rather_long_common_name_prefix_%06u", s);
    skv_pkg_spec r = skv_test_pkg_record(name, 128, 32, 8, SKV_DTYPE_BF16, 0);
    r.first_kernel = s * SKV_TEST_KERNELS;
    r.kernel_count = SKV_TEST_KERNELS;
    r.first_image = s;
    r.image_count = 1;
    skv_pkg_spec_encode(&r, skv_test_pkg_spec(&p, s));
    for (uint32_t k = 0; k < SKV_TEST_KERNELS; ++k)
      skv_pkg_kernel_encode(&kernels[k], skv_test_pkg_kernel(&p, s * SKV_TEST_KERNELS + k));
    uint64_t blob = p.blobs_at + (uint64_t)s * SKV_PKG_BLOB_ALIGN;
    skv_pkg_image m = {.kind = SKV_IMAGE_CUBIN,
                       .sm = 90,
                       .offset = blob,
                       .size = SKV_PKG_BLOB_ALIGN,
                       .first_resource = s * SKV_TEST_KERNELS,
                       .resource_count = SKV_TEST_KERNELS};
    skv_pkg_image_encode(&m, skv_test_pkg_image(&p, s));
    memcpy(p.data + blob, shared_blob, sizeof(shared_blob));
  }
  skv_test_pkg_seal(&p);
  return p;
}

/* As many specs as a package may hold opens in well under a second, and a
 * name repeated between the first and the last of them is found. The
 * old verifier compared every name with every earlier one: 2^31 string
 * comparisons. */
static void test_most_specs(void) {
  printf("most_specs\n");
  skv_test_pkg p = many_specs(SKV_PKG_MAX_SPECS);
  CHECK(p.data != NULL);
  if (!p.data)
    return;
  open_timed(&p, SKV_CODE_OK, "", 5.0, __LINE__);
  printf(" a name repeated far apart\n");
  uint32_t last = SKV_PKG_MAX_SPECS - 1;
  memcpy(skv_test_pkg_spec(&p, last), skv_test_pkg_spec(&p, 7), SKV_NAME_MAX);
  skv_test_pkg_seal(&p);
  open_timed(&p, SKV_CODE_CORRUPT_PACKAGE,
             "spec 65535 (a_model_with_a_rather_long_common_name_prefix_000007): name "
             "repeats spec 7's",
             5.0, __LINE__);
  printf(" the first repeat in file order is named\n");
  memcpy(skv_test_pkg_spec(&p, 9), skv_test_pkg_spec(&p, 8), SKV_NAME_MAX);
  skv_test_pkg_seal(&p);
  open_timed(&p, SKV_CODE_CORRUPT_PACKAGE, "spec 9 (", 5.0, __LINE__);
  free(p.data);
}

/* One spec more than a package may hold is refused from the header alone. */
static void test_too_many_specs(void) {
  printf("too_many_specs\n");
  skv_test_pkg p = many_specs(SKV_PKG_MAX_SPECS + 1);
  CHECK(p.data != NULL);
  if (!p.data)
    return;
  double took = open_timed(&p, SKV_CODE_CORRUPT_PACKAGE,
                           "65537 specs, more than the 65536 a package may hold", 5.0,
                           __LINE__);
  /* The header alone: the checksum over the file is the only linear work. */
  CHECK_MSG(took < 1.0, "took %.3f s", took);
  free(p.data);
}

/* A header whose counts pass the cap on specs but not what the specs may
 * own is refused before any record is read. */
static void test_too_many_kernels(void) {
  printf("too_many_kernels\n");
  skv_test_pkg p = skv_test_pkg_begin(1, SKV_MAX_KERNELS + 1, 1, 0, SKV_PKG_BLOB_ALIGN);
  CHECK(p.data != NULL);
  if (!p.data)
    return;
  skv_test_pkg_seal(&p);
  open_timed(&p, SKV_CODE_CORRUPT_PACKAGE, "9 kernels and 1 images for 1 specs", 1.0,
             __LINE__);
  free(p.data);
}

int main(void) {
  test_shared_images();
  test_most_specs();
  test_too_many_specs();
  test_too_many_kernels();
  if (failures) {
    fprintf(stderr, "test_package_hostile: %d failures\n", failures);
    return 1;
  }
  printf("test_package_hostile: all passed\n");
  return 0;
}
