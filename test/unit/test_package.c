/* Package writer and reader: a round trip compares every field, the output
 * is deterministic, each kind of damage gets its own message, and no bit of
 * the header or the tables can flip unnoticed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "splitkv/package.h"
#include "splitkv/package_records.h"
#include "package_internal.h"

#include "check.h"
#include "pkg_record.h"

static const char ptx_80[] = "// fake PTX for sm_80\n.version 7.0\n";
static const char ptx_90[] = "// fake PTX for sm_90\n.version 8.0\n";
static const char ptx_86[] = "// fake PTX for sm_86, no NUL given";
static const uint8_t cubin_90[] = {0x7f, 'E', 'L', 'F', 0, 1, 2, 3};

/* Resources that differ per kind, sm and kernel, so a round trip that
 * mixed them up would show. */
static void make_resources(skv_image_kind kind, uint32_t sm,
                           skv_kernel_resources out[SKV_TEST_KERNELS]) {
  for (uint32_t k = 0; k < SKV_TEST_KERNELS; ++k)
    out[k] = (skv_kernel_resources){.registers = 10 * k + sm + kind,
                                    .shared_bytes = 16640 * k,
                                    .stack_bytes = 8 * k,
                                    .spill_store_bytes = 4 * k,
                                    .spill_load_bytes = 12 * k};
}

static skv_status add_image(skv_package_builder *b, uint32_t spec, skv_image_kind kind,
                            uint32_t sm, const void *bytes, size_t size) {
  skv_kernel_resources resources[SKV_TEST_KERNELS];
  make_resources(kind, sm, resources);
  return skv_package_builder_add_image(b, spec, kind, sm, resources, bytes, size);
}

static skv_status add_spec(skv_package_builder *b, const skv_pkg_spec *record,
                           uint32_t *out_index) {
  skv_kernel_desc kernels[SKV_TEST_KERNELS];
  skv_test_pkg_kernels(record->name, kernels);
  return skv_package_builder_add_spec(b, record, kernels, SKV_TEST_KERNELS, out_index);
}

/* Two specs; images added in an order that differs from the file's when
 * reversed is set. */
static skv_package_builder *build_two_specs(int reversed) {
  skv_package_builder *b = NULL;
  CHECK_OK(skv_package_builder_create(&b));
  skv_pkg_spec llama = skv_test_pkg_record("llama3_8b", 128, 32, 8, SKV_DTYPE_BF16, 0);
  skv_pkg_spec small = skv_test_pkg_record("small_f16", 64, 8, 8, SKV_DTYPE_F16, 4);
  small.logit_softcap = 30.0f;
  small.sliding_window = 1024;
  uint32_t i0 = 99, i1 = 99;
  CHECK_OK(add_spec(b, &llama, &i0));
  CHECK_OK(add_spec(b, &small, &i1));
  CHECK(i0 == 0 && i1 == 1);
  if (reversed) {
    CHECK_OK(add_image(b, 1, SKV_IMAGE_PTX, 86, ptx_86, strlen(ptx_86)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_CUBIN, 90, cubin_90, sizeof(cubin_90)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90, sizeof(ptx_90)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 80, ptx_80, sizeof(ptx_80)));
  } else {
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 80, ptx_80, sizeof(ptx_80)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90, sizeof(ptx_90)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_CUBIN, 90, cubin_90, sizeof(cubin_90)));
    CHECK_OK(add_image(b, 1, SKV_IMAGE_PTX, 86, ptx_86, strlen(ptx_86)));
  }
  return b;
}

static void compare_record(const skv_pkg_spec *got, const skv_pkg_spec *want) {
  CHECK(strcmp(got->name, want->name) == 0);
#define SKV_FIELD_COMPARE(member, id, type, min, max, fallback)                \
  CHECK_MSG(got->member == want->member, "%s: field " #member, want->name);
  SKV_SPEC_FIELDS(SKV_FIELD_COMPARE)
#undef SKV_FIELD_COMPARE
}

static void check_kernels(const skv_package *pkg, const skv_pkg_spec *spec) {
  skv_kernel_desc want[SKV_TEST_KERNELS];
  skv_test_pkg_kernels(spec->name, want);
  CHECK(spec->kernel_count == SKV_TEST_KERNELS);
  for (uint32_t k = 0; k < SKV_TEST_KERNELS && k < spec->kernel_count; ++k) {
    const skv_kernel_desc *got = skv_package_kernel_at(pkg, spec->first_kernel + k);
    CHECK(got && memcmp(got, &want[k], sizeof(want[k])) == 0);
  }
}

static void check_image(const skv_package *pkg, const uint8_t *data, uint32_t i,
                        skv_image_kind kind, uint32_t sm, const void *bytes, size_t size) {
  const skv_pkg_image *image = skv_package_image_at(pkg, i);
  CHECK(image->kind == (uint32_t)kind);
  CHECK(image->sm == sm);
  CHECK(image->size == size);
  CHECK(image->offset % SKV_PKG_BLOB_ALIGN == 0);
  CHECK(memcmp(data + image->offset, bytes, size) == 0);
  skv_kernel_resources want[SKV_TEST_KERNELS];
  make_resources(kind, sm, want);
  CHECK(image->resource_count == SKV_TEST_KERNELS);
  for (uint32_t k = 0; k < SKV_TEST_KERNELS; ++k)
    CHECK(memcmp(skv_package_resources_at(pkg, image->first_resource + k), &want[k],
                 sizeof(want[k])) == 0);
}

/* The two-spec package written to memory (*out_data, *out_size: the
 * caller frees) and opened from it; NULL on failure (reported). */
static skv_package *open_two_specs(skv_package_builder *b, uint8_t **out_data,
                                   size_t *out_size) {
  *out_data = NULL;
  *out_size = 0;
  CHECK_OK(skv_package_builder_write_memory(b, out_data, out_size));
  skv_package *pkg = NULL;
  CHECK_OK(skv_package_open_memory(*out_data, *out_size, &pkg));
  return pkg;
}

static void test_round_trip(void) {
  printf("round_trip\n");
  skv_package_builder *b = build_two_specs(0);
  uint8_t *data = NULL;
  size_t size = 0;
  skv_package *pkg = open_two_specs(b, &data, &size);
  if (!pkg) {
    free(data);
    skv_package_builder_destroy(b);
    return;
  }
  CHECK(skv_package_spec_count(pkg) == 2);
  skv_pkg_spec llama = skv_test_pkg_record("llama3_8b", 128, 32, 8, SKV_DTYPE_BF16, 0);
  skv_pkg_spec small = skv_test_pkg_record("small_f16", 64, 8, 8, SKV_DTYPE_F16, 4);
  small.logit_softcap = 30.0f;
  small.sliding_window = 1024;
  const skv_pkg_spec *r0 = skv_package_spec_at(pkg, 0);
  const skv_pkg_spec *r1 = skv_package_spec_at(pkg, 1);
  compare_record(r0, &llama);
  compare_record(r1, &small);
  check_kernels(pkg, r0);
  check_kernels(pkg, r1);
  CHECK(skv_package_spec_at(pkg, 2) == NULL);
  CHECK(skv_package_kernel_at(pkg, 8) == NULL);
  CHECK(r0->first_image == 0 && r0->image_count == 3);
  CHECK(r1->first_image == 3 && r1->image_count == 1);

  /* The public view of the same records. */
  skv_spec_info info;
  CHECK_OK(skv_package_spec_info(pkg, 1, &info));
  CHECK(strcmp(info.name, "small_f16") == 0 && info.head_dim == 64 &&
        info.num_q_heads == 8 && info.num_kv_heads == 8 && info.dtype == SKV_DTYPE_F16 &&
        info.splits == 4 && info.softmax_scale == 0.125f && info.logit_softcap == 30.0f &&
        info.sliding_window == 1024);
  CHECK_ERROR(skv_package_spec_info(pkg, 2, &info), SKV_CODE_INVALID_ARGUMENT,
              "spec index 2 is out of range: the package has 2 specs");

  const skv_pkg_header *h = skv_package_header(pkg);
  CHECK(h->format_version == SKV_PACKAGE_FORMAT_VERSION);
  CHECK(h->file_size == size);
  CHECK(h->spec_count == 2 && h->kernel_count == 8 && h->image_count == 4 &&
        h->resource_count == 16);
  CHECK(strncmp(h->compiler_version, "splitkv ", 8) == 0);
  /* Within a spec: ptx before cubin, ascending sm. */
  check_image(pkg, data, 0, SKV_IMAGE_PTX, 80, ptx_80, sizeof(ptx_80));
  check_image(pkg, data, 1, SKV_IMAGE_PTX, 90, ptx_90, sizeof(ptx_90));
  check_image(pkg, data, 2, SKV_IMAGE_CUBIN, 90, cubin_90, sizeof(cubin_90));
  /* PTX given without its NUL is stored with one. */
  check_image(pkg, data, 3, SKV_IMAGE_PTX, 86, ptx_86, sizeof(ptx_86));

  skv_package_destroy(pkg);
  free(data);
  skv_package_builder_destroy(b);
}

static void test_deterministic(void) {
  printf("deterministic\n");
  skv_package_builder *a = build_two_specs(0);
  skv_package_builder *b = build_two_specs(1);
  uint8_t *da = NULL, *db = NULL;
  size_t sa = 0, sb = 0;
  CHECK_OK(skv_package_builder_write_memory(a, &da, &sa));
  CHECK_OK(skv_package_builder_write_memory(b, &db, &sb));
  CHECK(sa == sb && da && db && memcmp(da, db, sa) == 0);
  free(da);
  free(db);
  skv_package_builder_destroy(a);
  skv_package_builder_destroy(b);
}

static void test_file(void) {
  printf("file\n");
  char path[256];
  snprintf(path, sizeof(path), "/tmp/skv_test_package_%d.skvpkg", (int)getpid());
  skv_package_builder *b = build_two_specs(0);
  CHECK_OK(skv_package_builder_write_file(b, path));
  skv_package *pkg = NULL;
  CHECK_OK(skv_package_open_file(path, &pkg));
  CHECK(pkg && skv_package_spec_count(pkg) == 2);
  skv_package_destroy(pkg);
  remove(path);
  CHECK_ERROR(skv_package_open_file(path, &pkg), SKV_CODE_IO_ERROR, path);
  CHECK_ERROR(skv_package_builder_write_file(b, "/nonexistent-dir/x.skvpkg"),
              SKV_CODE_IO_ERROR, "/nonexistent-dir/x.skvpkg.tmp");
  skv_package_builder_destroy(b);
}

/* SHA-256 against FIPS 180-4's examples (one block, two blocks of
 * padding, empty); the package digest is the file's. */
static void test_digest(void) {
  printf("digest\n");
  static const struct {
    const char *text, *hex;
  } vectors[] = {
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
  };
  for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; ++v) {
    uint8_t digest[32];
    char hex[65];
    skv_sha256((const uint8_t *)vectors[v].text, strlen(vectors[v].text), digest);
    for (int i = 0; i < 32; ++i)
      snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    CHECK_MSG(strcmp(hex, vectors[v].hex) == 0, "sha256('%s') = %s", vectors[v].text, hex);
  }
  skv_package_builder *b = build_two_specs(0);
  uint8_t *data = NULL;
  size_t size = 0;
  skv_package *pkg = open_two_specs(b, &data, &size);
  uint8_t want[32], got[32];
  skv_sha256(data, size, want);
  if (pkg)
    skv_package_digest(pkg, got);
  CHECK(pkg && memcmp(want, got, 32) == 0);
  skv_package_destroy(pkg);
  free(data);
  skv_package_builder_destroy(b);
}

static void test_builder_errors(void) {
  printf("builder_errors\n");
  skv_package_builder *b = NULL;
  CHECK_OK(skv_package_builder_create(&b));
  uint8_t *data = NULL;
  size_t size = 0;
  CHECK_ERROR(skv_package_builder_write_memory(b, &data, &size), SKV_CODE_INVALID_ARGUMENT,
              "no specs");
  skv_pkg_spec r = skv_test_pkg_record("one", 128, 32, 8, SKV_DTYPE_BF16, 0);
  uint32_t index = 0;
  CHECK_OK(add_spec(b, &r, &index));
  CHECK_ERROR(add_spec(b, &r, &index), SKV_CODE_INVALID_ARGUMENT,
              "spec one is already in the package");
  skv_pkg_spec bad = skv_test_pkg_record("two", 100, 32, 8, SKV_DTYPE_BF16, 0);
  CHECK_ERROR(add_spec(b, &bad, &index), SKV_CODE_INVALID_ARGUMENT, "head_dim 100");
  bad = skv_test_pkg_record("three", 128, 32, 5, SKV_DTYPE_BF16, 0);
  CHECK_ERROR(add_spec(b, &bad, &index), SKV_CODE_INVALID_ARGUMENT,
              "num_kv_heads 5 does not divide");
  /* A kernel set without a combine kernel, or with a bad block. */
  skv_pkg_spec four = skv_test_pkg_record("four", 128, 32, 8, SKV_DTYPE_BF16, 0);
  skv_kernel_desc kernels[SKV_TEST_KERNELS];
  skv_test_pkg_kernels("four", kernels);
  CHECK_ERROR(skv_package_builder_add_spec(b, &four, kernels, 2, &index),
              SKV_CODE_INVALID_ARGUMENT, "four: 0 combine kernels, not 1");
  kernels[1].threads = 100;
  CHECK_ERROR(skv_package_builder_add_spec(b, &four, kernels, 3, &index),
              SKV_CODE_INVALID_ARGUMENT,
              "four: kernel 1 (four_split_wide): threads 100 is not whole warps");
  CHECK_ERROR(skv_package_builder_write_memory(b, &data, &size), SKV_CODE_INVALID_ARGUMENT,
              "spec one has no code image");
  CHECK_ERROR(add_image(b, 7, SKV_IMAGE_PTX, 90, ptx_90, sizeof(ptx_90)),
              SKV_CODE_INVALID_ARGUMENT, "spec index 7");
  CHECK_ERROR(add_image(b, 0, (skv_image_kind)5, 90, ptx_90, sizeof(ptx_90)),
              SKV_CODE_INVALID_ARGUMENT, "image record: unknown kind 5");
  skv_kernel_resources greedy[SKV_TEST_KERNELS];
  make_resources(SKV_IMAGE_CUBIN, 90, greedy);
  greedy[0].registers = 300;
  CHECK_ERROR(skv_package_builder_add_image(b, 0, SKV_IMAGE_CUBIN, 90, greedy, cubin_90,
                                            sizeof(cubin_90)),
              SKV_CODE_INVALID_ARGUMENT, "one_split registers 300 is more than 255");
  CHECK_ERROR(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90, 0), SKV_CODE_INVALID_ARGUMENT,
              "empty ptx sm_90 image");
  CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90, sizeof(ptx_90)));
  CHECK_ERROR(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90, sizeof(ptx_90)),
              SKV_CODE_INVALID_ARGUMENT, "already has a ptx sm_90 image");
  CHECK_OK(skv_package_builder_write_memory(b, &data, &size));
  free(data);
  skv_package_builder_destroy(b);
}

/* ---- corruption: each class of damage gets its own message ------------- */

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Header byte offsets (package_format.c's layout). */
enum {
  HDR_FORMAT_VERSION = 8,
  HDR_ABI_VERSION = 12,
  HDR_CHECKSUM = 24,
  HDR_SPEC_COUNT = 32,
  HDR_KERNELS_OFFSET = 56
};

/* Restores a valid checksum after an edit, so that the check aimed at is
 * the one that fires. */
static void reseal(uint8_t *data, size_t size) {
  put_u64(data + HDR_CHECKSUM, skv_pkg_file_checksum(data, size));
}

typedef struct pristine {
  uint8_t *data;
  size_t size;
  skv_pkg_header header;
} pristine;

static pristine pristine_make(void) {
  pristine p = {0};
  skv_package_builder *b = build_two_specs(0);
  CHECK_OK(skv_package_builder_write_memory(b, &p.data, &p.size));
  skv_package_builder_destroy(b);
  CHECK_OK(skv_pkg_verify(p.data, p.size, &p.header));
  return p;
}

/* A fresh copy to damage. */
static uint8_t *copy_of(const pristine *p) {
  uint8_t *copy = malloc(p->size);
  memcpy(copy, p->data, p->size);
  return copy;
}

static void expect_corrupt(uint8_t *data, size_t size, const char *text, int line) {
  skv_package *pkg = NULL;
  check_error(skv_package_open_memory(data, size, &pkg), SKV_CODE_CORRUPT_PACKAGE, text, line);
  CHECK(pkg == NULL);
  free(data);
}
#define EXPECT_CORRUPT(data, size, text) expect_corrupt((data), (size), (text), __LINE__)

static uint8_t *spec_at(uint8_t *data, const skv_pkg_header *h, uint32_t i) {
  return data + h->specs_offset + (uint64_t)i * SKV_PKG_SPEC_SIZE;
}

/* A fresh copy whose record i of a table is rewritten by the format's own
 * encoder from the pristine record after `edit`, and resealed: a field set
 * to a value the reader must refuse, without hand-computed offsets. */
static uint8_t *with_spec(const pristine *p, uint32_t i, const skv_pkg_spec *record) {
  uint8_t *d = copy_of(p);
  skv_pkg_spec_encode(record, spec_at(d, &p->header, i));
  reseal(d, p->size);
  return d;
}

static uint8_t *with_kernel(const pristine *p, uint32_t i, const skv_kernel_desc *kernel) {
  uint8_t *d = copy_of(p);
  skv_pkg_kernel_encode(kernel, d + p->header.kernels_offset + i * SKV_PKG_KERNEL_SIZE);
  reseal(d, p->size);
  return d;
}

static uint8_t *with_image(const pristine *p, uint32_t i, const skv_pkg_image *image) {
  uint8_t *d = copy_of(p);
  skv_pkg_image_encode(image, d + p->header.images_offset + i * SKV_PKG_IMAGE_SIZE);
  reseal(d, p->size);
  return d;
}

static uint8_t *with_resources(const pristine *p, uint32_t i, const skv_kernel_resources *r) {
  uint8_t *d = copy_of(p);
  skv_pkg_resources_encode(r, d + p->header.resources_offset + i * SKV_PKG_RESOURCES_SIZE);
  reseal(d, p->size);
  return d;
}

static void test_corruption(void) {
  printf("corruption\n");
  pristine p = pristine_make();
  const skv_pkg_header *h = &p.header;
  uint8_t *d;
  skv_pkg_spec r;
  skv_kernel_desc k;
  skv_pkg_image m;
  skv_kernel_resources res;

  printf(" flipped byte\n");
  d = copy_of(&p);
  d[p.size - 3] ^= 0x40;
  EXPECT_CORRUPT(d, p.size, "checksum mismatch");
  d = copy_of(&p);
  d[HDR_SPEC_COUNT] ^= 0x01; /* the header is part of the checksum */
  EXPECT_CORRUPT(d, p.size, "checksum mismatch");

  printf(" truncated\n");
  d = copy_of(&p);
  EXPECT_CORRUPT(d, p.size - 10, "truncated");
  d = copy_of(&p);
  EXPECT_CORRUPT(d, 40, "smaller than its 112-byte header");

  printf(" bad magic\n");
  d = copy_of(&p);
  memcpy(d, "PK\3\4", 4);
  EXPECT_CORRUPT(d, p.size, "bad magic");

  /* An older file (version 5: one fixed kernel set per spec) is refused by
   * its version before any record is read with the wrong layout. */
  printf(" versions 5 and 7\n");
  d = copy_of(&p);
  put_u32(d + HDR_FORMAT_VERSION, 5);
  EXPECT_CORRUPT(d, p.size, "package format version 5, this runtime reads version 6");
  d = copy_of(&p);
  put_u32(d + HDR_FORMAT_VERSION, 7);
  EXPECT_CORRUPT(d, p.size, "package format version 7, this runtime reads version 6");

  printf(" ABI mismatch\n");
  d = copy_of(&p);
  put_u32(d + HDR_ABI_VERSION, 1);
  EXPECT_CORRUPT(d, p.size, "kernel ABI version 1");

  printf(" tables that do not tile\n");
  d = copy_of(&p);
  put_u32(d + HDR_SPEC_COUNT, 1000);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec table (1000 records at offset 112) out of bounds");
  d = copy_of(&p);
  put_u64(d + HDR_KERNELS_OFFSET, h->kernels_offset + 8);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "kernel table at offset 536, expected 528 (right after the "
                            "spec table)");

  printf(" image blob out of place\n");
  skv_pkg_image_decode(p.data, h, 1, &m);
  m.offset += 16;
  EXPECT_CORRUPT(with_image(&p, 1, &m), p.size, "image 1 (ptx sm_90): bytes");
  skv_pkg_image_decode(p.data, h, 1, &m);
  m.offset = p.size - 4;
  EXPECT_CORRUPT(with_image(&p, 1, &m), p.size, "are not the next blob");

  printf(" unknown image kind\n");
  skv_pkg_image_decode(p.data, h, 2, &m);
  m.kind = 9;
  EXPECT_CORRUPT(with_image(&p, 2, &m), p.size, "image 2: unknown kind 9");

  printf(" resources not the image's\n");
  skv_pkg_image_decode(p.data, h, 1, &m);
  m.first_resource += 1;
  EXPECT_CORRUPT(with_image(&p, 1, &m), p.size, "resources [5, +4) are not the next 4");

  printf(" too many registers\n");
  skv_pkg_resources_decode(p.data, h, 4, &res);
  res.registers = 256;
  EXPECT_CORRUPT(with_resources(&p, 4, &res), p.size,
                 "image 1 (ptx sm_90): llama3_8b_split registers 256 is more than 255");

  printf(" shared memory out of range\n");
  skv_pkg_resources_decode(p.data, h, 8, &res);
  res.shared_bytes = 1u << 30;
  EXPECT_CORRUPT(with_resources(&p, 8, &res), p.size,
                 "image 2 (cubin sm_90): llama3_8b_split shared_bytes 1073741824");

  printf(" spill count out of range\n");
  skv_pkg_resources_decode(p.data, h, 2, &res);
  res.spill_store_bytes = 1u << 20;
  EXPECT_CORRUPT(with_resources(&p, 2, &res), p.size,
                 "image 0 (ptx sm_80): llama3_8b_combine spill_store_bytes 1048576");

  printf(" cubin not an ELF file\n");
  d = copy_of(&p);
  skv_pkg_image_decode(p.data, h, 2, &m);
  d[m.offset] = 'X';
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "image 2 (cubin sm_90): not an ELF file");

  printf(" same kind and sm twice in a spec\n");
  skv_pkg_image_decode(p.data, h, 1, &m);
  m.sm = 80;
  EXPECT_CORRUPT(with_image(&p, 1, &m), p.size,
                 "image 1 (ptx sm_80) is not after spec llama3_8b's image before it");

  printf(" PTX not NUL-terminated\n");
  d = copy_of(&p);
  skv_pkg_image_decode(p.data, h, 0, &m);
  d[m.offset + m.size - 1] = '\n';
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "PTX image not NUL-terminated");

  printf(" padding not zero\n");
  d = copy_of(&p);
  skv_pkg_image_decode(p.data, h, 1, &m);
  d[m.offset - 1] = 1; /* after the 16-byte aligned sm_80 PTX: padding */
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "padding byte");

  printf(" name not NUL-terminated\n");
  d = copy_of(&p);
  memset(spec_at(d, h, 1), 'a', SKV_NAME_MAX);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 1: name is not NUL-terminated");

  printf(" entry not NUL-terminated, repeated, empty\n");
  skv_pkg_kernel_decode(p.data, h, 1, &k);
  memset(k.entry, 'k', SKV_ENTRY_MAX);
  EXPECT_CORRUPT(with_kernel(&p, 1, &k), p.size,
                 "spec 0 (llama3_8b): kernel 1: entry is not NUL-terminated");
  skv_pkg_kernel_decode(p.data, h, 0, &k);
  EXPECT_CORRUPT(with_kernel(&p, 1, &k), p.size,
                 "spec 0 (llama3_8b): kernel 1 (llama3_8b_split): entry repeats kernel 0's");

  printf(" kernel role, block, tokens per step\n");
  skv_pkg_kernel_decode(p.data, h, 0, &k);
  k.role = 7;
  EXPECT_CORRUPT(with_kernel(&p, 0, &k), p.size, "kernel 0 (llama3_8b_split): role 7");
  skv_pkg_kernel_decode(p.data, h, 2, &k);
  k.threads = 96;
  EXPECT_CORRUPT(with_kernel(&p, 2, &k), p.size,
                 "kernel 2 (llama3_8b_combine): threads 96 is not whole warps dividing the "
                 "16 slices");
  skv_pkg_kernel_decode(p.data, h, 0, &k);
  k.tokens_per_step = 0;
  EXPECT_CORRUPT(with_kernel(&p, 0, &k), p.size,
                 "kernel 0 (llama3_8b_split): tokens_per_step 0 is not in");
  skv_pkg_kernel_decode(p.data, h, 2, &k);
  k.role = SKV_KERNEL_SPLIT;
  k.tokens_per_step = 16;
  EXPECT_CORRUPT(with_kernel(&p, 2, &k), p.size, "0 combine kernels, not 1");
  skv_pkg_kernel_decode(p.data, h, 3, &k);
  k.role = SKV_KERNEL_SPLIT;
  EXPECT_CORRUPT(with_kernel(&p, 3, &k), p.size, "0 balanced kernels, not 1");

  printf(" fields out of range\n");
  skv_pkg_spec_decode(p.data, h, 0, &r);
  r.dtype = (skv_dtype)9;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "spec 0 (llama3_8b): dtype 9");
  skv_pkg_spec_decode(p.data, h, 1, &r);
  r.head_dim = 0;
  EXPECT_CORRUPT(with_spec(&p, 1, &r), p.size, "spec 1 (small_f16): head_dim 0");
  skv_pkg_spec_decode(p.data, h, 0, &r);
  r.num_kv_heads = 0;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "num_kv_heads 0 is not in [1, 1024]");
  skv_pkg_spec_decode(p.data, h, 0, &r);
  r.splits = 300;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "splits 300 is neither 0 (auto) nor in");
  skv_pkg_spec_decode(p.data, h, 0, &r);
  r.softmax_scale = -1.0f;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "softmax_scale -1 is not a finite positive");

  /* The record's (id, value) slots: SKV_NAME_MAX bytes in, 8 bytes each,
   * in SKV_SPEC_FIELDS order as the writer puts them. */
  printf(" field slots: unknown, repeated, missing\n");
  d = copy_of(&p);
  put_u32(spec_at(d, h, 0) + SKV_NAME_MAX + 8 * (SKV_PKG_FIELD_SLOTS - 1), 200);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 0 (llama3_8b): field slot 15 holds unknown field id 200");
  d = copy_of(&p);
  put_u32(spec_at(d, h, 0) + SKV_NAME_MAX + 8, SKV_FIELD_ID_head_dim);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 0 (llama3_8b): field id 1 appears twice");
  d = copy_of(&p);
  put_u32(spec_at(d, h, 0) + SKV_NAME_MAX, 0);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 0 (llama3_8b): no head_dim field");
  /* A field with a fallback may be left out: kv_layout reads contiguous. */
  d = copy_of(&p);
  for (int slot = 0; slot < SKV_PKG_FIELD_SLOTS; ++slot)
    if (d[h->specs_offset + SKV_NAME_MAX + 8 * slot] == SKV_FIELD_ID_kv_layout)
      memset(d + h->specs_offset + SKV_NAME_MAX + 8 * slot, 0, 8);
  reseal(d, p.size);
  skv_package *pkg = NULL;
  CHECK_OK(skv_package_open_memory(d, p.size, &pkg));
  CHECK(pkg && skv_package_spec_at(pkg, 0)->kv_layout == SKV_KV_CONTIGUOUS);
  skv_package_destroy(pkg);
  free(d);

  printf(" spec ranges\n");
  skv_pkg_spec_decode(p.data, h, 1, &r);
  r.image_count = 5;
  EXPECT_CORRUPT(with_spec(&p, 1, &r), p.size,
                 "spec 1 (small_f16): images [3, +5) are not the next ones");
  skv_pkg_spec_decode(p.data, h, 1, &r);
  r.first_kernel = 0;
  EXPECT_CORRUPT(with_spec(&p, 1, &r), p.size,
                 "spec 1 (small_f16): kernels [0, +4) are not the next ones");

  printf(" duplicate spec name\n");
  d = copy_of(&p);
  memcpy(spec_at(d, h, 1), spec_at(d, h, 0), SKV_NAME_MAX);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 1 (llama3_8b): name repeats spec 0's");

  free(p.data);
}

/* Every single-bit flip of the header and the tables, without resealing,
 * is refused as damage: the checksum covers them, and a flip of the
 * checksum itself no longer matches. */
static void test_every_bit(void) {
  printf("every_bit\n");
  pristine p = pristine_make();
  uint64_t end = p.header.resources_offset +
                 (uint64_t)p.header.resource_count * SKV_PKG_RESOURCES_SIZE;
  int accepted = 0, flips = 0;
  for (uint64_t byte = 0; byte < end; ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      p.data[byte] ^= (uint8_t)(1u << bit);
      skv_pkg_header header;
      skv_status status = skv_pkg_verify(p.data, p.size, &header);
      if (skv_status_code_of(status) != SKV_CODE_CORRUPT_PACKAGE)
        ++accepted;
      skv_status_free(status);
      p.data[byte] ^= (uint8_t)(1u << bit);
      ++flips;
    }
  printf(" %d flips of %llu bytes, %d accepted\n", flips, (unsigned long long)end, accepted);
  CHECK(accepted == 0);
  free(p.data);
}

/* The combine grid kernel_abi.h derives: head_dim / 8 slices over the
 * block's slices (threads / lanes). */
static void test_combine_row_ctas(void) {
  printf("combine_row_ctas\n");
  CHECK(skv_pkg_combine_row_ctas(128, 32, 32) == 16);
  CHECK(skv_pkg_combine_row_ctas(128, 64, 32) == 8);
  CHECK(skv_pkg_combine_row_ctas(128, 64, 8) == 2); /* 4 slices a warp */
  CHECK(skv_pkg_combine_row_ctas(128, 64, 4) == 1);
  CHECK(skv_pkg_combine_row_ctas(256, 64, 32) == 16);
  CHECK(skv_pkg_combine_row_ctas(96, 128, 32) == 3);
}

int main(void) {
  test_round_trip();
  test_deterministic();
  test_file();
  test_digest();
  test_builder_errors();
  test_corruption();
  test_every_bit();
  test_combine_row_ctas();
  if (failures) {
    fprintf(stderr, "test_package: %d failures\n", failures);
    return 1;
  }
  printf("test_package: all passed\n");
  return 0;
}
