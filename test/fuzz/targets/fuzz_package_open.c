/* libFuzzer target: the package loader on arbitrary bytes. It must reject
 * or accept every input without crashing, leaking or reading out of bounds
 * (ASan, UBSan and LeakSanitizer watch it).
 *
 * Random bytes almost never carry the right file size and FNV checksum, so
 * each input is tried twice: as given, and with those two header fields
 * rewritten to match, which lets mutations reach the table and record
 * checks. Where the fields sit is learnt from skv_pkg_header_encode, so the
 * target follows the format as it changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/package_format.h"
#include "splitkv/package_records.h"

/* Offsets of the file_size and checksum fields in an encoded header. */
static size_t skv_fuzz_size_at, skv_fuzz_checksum_at;

static size_t skv_fuzz_find_u64(const uint8_t *header, uint64_t marker) {
  for (size_t at = 0; at + 8 <= SKV_PKG_HEADER_SIZE; ++at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= (uint64_t)header[at + i] << (8 * i);
    if (v == marker)
      return at;
  }
  fprintf(stderr, "fuzz_package_open: header field %016llx not found: "
          "update this target for the new format\n",
          (unsigned long long)marker);
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  skv_pkg_header header;
  memset(&header, 0, sizeof header);
  header.file_size = 0x1122334455667788ull;
  header.checksum = 0x8877665544332211ull;
  uint8_t encoded[SKV_PKG_HEADER_SIZE];
  skv_pkg_header_encode(&header, encoded);
  skv_fuzz_size_at = skv_fuzz_find_u64(encoded, header.file_size);
  skv_fuzz_checksum_at = skv_fuzz_find_u64(encoded, header.checksum);
  return 0;
}

static void skv_fuzz_put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Opens data; returns whether it was accepted. An accepted package must
 * answer every query within its own records. */
static int skv_fuzz_open(const uint8_t *data, size_t size) {
  skv_package *package = NULL;
  skv_status status = skv_package_open_memory(data, size, &package);
  if (status) {
    /* Every failure is printable (touch all of it for ASan). */
    if (strlen(skv_status_message(status)) == 0)
      abort();
    skv_status_free(status);
    return 0;
  }
  uint32_t count = skv_package_spec_count(package);
  for (uint32_t i = 0; i < count; ++i) {
    const skv_pkg_spec *spec = skv_package_spec_at(package, i);
    skv_spec_info info;
    if (!spec || !memchr(spec->name, '\0', SKV_NAME_MAX) ||
        skv_package_spec_info(package, i, &info) || strcmp(info.name, spec->name) != 0)
      abort();
    for (uint32_t k = 0; k < spec->kernel_count; ++k) {
      const skv_kernel_desc *kernel = skv_package_kernel_at(package, spec->first_kernel + k);
      if (!kernel || !memchr(kernel->entry, '\0', SKV_ENTRY_MAX))
        abort();
    }
    for (uint32_t m = 0; m < spec->image_count; ++m) {
      const skv_pkg_image *image = skv_package_image_at(package, spec->first_image + m);
      if (!image || image->resource_count != spec->kernel_count ||
          !skv_package_resources_at(package, image->first_resource + image->resource_count - 1))
        abort();
    }
  }
  if (skv_package_spec_at(package, count) != NULL)
    abort();
  skv_package_destroy(package);

  /* The format-level verifier agrees with the loader. */
  skv_pkg_header header;
  status = skv_pkg_verify(data, size, &header);
  if (status || header.spec_count != count)
    abort();
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int accepted = skv_fuzz_open(data, size);
  if (size < SKV_PKG_HEADER_SIZE)
    return 0;
  uint8_t *fixed = malloc(size);
  if (!fixed)
    return 0;
  memcpy(fixed, data, size);
  skv_fuzz_put_u64(fixed + skv_fuzz_size_at, size);
  skv_fuzz_put_u64(fixed + skv_fuzz_checksum_at, skv_pkg_file_checksum(fixed, size));
  /* A valid package already holds the right values: if the rewrite changed
   * it, the checksum no longer covers what this target assumes. */
  if (accepted && memcmp(fixed, data, size) != 0) {
    fprintf(stderr, "fuzz_package_open: the checksum rewrite broke a valid "
            "package: update this target for the new format\n");
    abort();
  }
  skv_fuzz_open(fixed, size);
  free(fixed);
  return 0;
}
