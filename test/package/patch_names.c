/* patch_names: a lit helper that makes a package a compiler never writes
 * but the verifier accepts (names are checked only for their NUL), to
 * test what tools show of hostile names.
 *
 *   patch_names IN OUT HEX
 *
 * Sets spec 0's name, its first kernel's entry and the compiler version to
 * the bytes HEX spells (at most 31), recomputes the checksum, checks that
 * the verifier accepts the result, and writes it to OUT. Exits non-zero,
 * saying why, on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/package_format.h"

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "patch_names: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 1;
}

static unsigned char *read_all(const char *path, size_t *out_size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *data = NULL;
  size_t size = 0, capacity = 0, got;
  do {
    if (size == capacity) {
      capacity = capacity ? 2 * capacity : 1 << 16;
      unsigned char *bigger = realloc(data, capacity);
      if (!bigger) {
        free(data);
        fclose(f);
        return NULL;
      }
      data = bigger;
    }
    got = fread(data + size, 1, capacity - size, f);
    size += got;
  } while (got > 0);
  fclose(f);
  *out_size = size;
  return data;
}

int main(int argc, char **argv) {
  if (argc != 4)
    return fail("usage: patch_names IN OUT HEX", NULL);
  char name[32] = {0};
  size_t hex_length = strlen(argv[3]);
  if (hex_length % 2 || hex_length == 0 || hex_length / 2 >= sizeof name)
    return fail("HEX must spell 1 to 31 bytes", argv[3]);
  for (size_t i = 0; i < hex_length / 2; ++i) {
    unsigned byte;
    if (sscanf(argv[3] + 2 * i, "%2x", &byte) != 1 || byte == 0)
      return fail("HEX must spell non-zero bytes", argv[3]);
    name[i] = (char)byte;
  }
  size_t size = 0;
  unsigned char *data = read_all(argv[1], &size);
  if (!data)
    return fail("cannot read", argv[1]);
  skv_pkg_header h;
  skv_status s = skv_pkg_verify(data, size, &h);
  if (s)
    return fail("the input does not verify", skv_status_message(s));

  skv_pkg_spec spec;
  skv_pkg_spec_decode(data, &h, 0, &spec);
  memset(spec.name, 0, sizeof spec.name);
  memcpy(spec.name, name, strlen(name));
  skv_pkg_spec_encode(&spec, data + h.specs_offset);
  skv_kernel_desc kernel;
  skv_pkg_kernel_decode(data, &h, spec.first_kernel, &kernel);
  memset(kernel.entry, 0, sizeof kernel.entry);
  memcpy(kernel.entry, name, strlen(name));
  skv_pkg_kernel_encode(&kernel,
                        data + h.kernels_offset + (size_t)spec.first_kernel * SKV_PKG_KERNEL_SIZE);
  memset(h.compiler_version, 0, sizeof h.compiler_version);
  memcpy(h.compiler_version, name, strlen(name));
  /* The checksum reads its own field as zero: encode, hash, encode. */
  skv_pkg_header_encode(&h, data);
  h.checksum = skv_pkg_file_checksum(data, size);
  skv_pkg_header_encode(&h, data);

  skv_pkg_header again;
  s = skv_pkg_verify(data, size, &again);
  if (s)
    return fail("the patched package does not verify", skv_status_message(s));
  FILE *out = fopen(argv[2], "wb");
  if (!out || fwrite(data, 1, size, out) != size || fclose(out) != 0)
    return fail("cannot write", argv[2]);
  free(data);
  return 0;
}
