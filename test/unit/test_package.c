/* Package writer and reader: a round trip compares every field, the output
 * is deterministic, and each kind of damage gets its own message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "splitkv/package.h"
#include "splitkv/package_records.h"

#include "check.h"
#include "pkg_record.h"

static const char ptx_80[] = "// fake PTX for sm_80\n.version 7.0\n";
static const char ptx_90[] = "// fake PTX for sm_90\n.version 8.0\n";
static const char ptx_86[] = "// fake PTX for sm_86, no NUL given";
static const uint8_t cubin_90[] = {0x7f, 'E', 'L', 'F', 0, 1, 2, 3};

/* An image record with resources that differ per kind and sm, so a round
 * trip that mixed them up would show. */
static skv_pkg_image make_image(skv_image_kind kind, uint32_t sm) {
  skv_pkg_image image;
  memset(&image, 0, sizeof(image));
  image.kind = kind;
  image.sm = sm;
  image.split = (skv_pkg_kernel_resources){
      .registers = 100 + sm + kind, .shared_bytes = 16640, .stack_bytes = 8,
      .spill_store_bytes = 4, .spill_load_bytes = 12};
  image.combine = (skv_pkg_kernel_resources){.registers = 50 + sm + kind};
  image.split_wide = (skv_pkg_kernel_resources){.registers = 70 + sm + kind,
                                                .spill_load_bytes = 8};
  return image;
}

static skv_status add_image(skv_package_builder *b, uint32_t spec,
                            skv_image_kind kind, uint32_t sm,
                            const void *bytes, size_t size) {
  skv_pkg_image record = make_image(kind, sm);
  return skv_package_builder_add_image(b, spec, &record, bytes, size);
}

/* Two specs; images added in an order that differs from the file's when
 * reversed is set. */
static skv_package_builder *build_two_specs(int reversed) {
  skv_package_builder *b = NULL;
  CHECK_OK(skv_package_builder_create(&b));
  skv_pkg_spec llama = skv_test_pkg_record("llama3_8b", 128, 32, 8, SKV_DTYPE_BF16, 0);
  skv_pkg_spec small = skv_test_pkg_record("small_f16", 64, 8, 8, SKV_DTYPE_F16, 4);
  uint32_t i0 = 99, i1 = 99;
  CHECK_OK(skv_package_builder_add_spec(b, &llama, &i0));
  CHECK_OK(skv_package_builder_add_spec(b, &small, &i1));
  CHECK(i0 == 0 && i1 == 1);
  if (reversed) {
    CHECK_OK(add_image(b, 1, SKV_IMAGE_PTX, 86, ptx_86,
                                           strlen(ptx_86)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_CUBIN, 90, cubin_90,
                                           sizeof(cubin_90)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90,
                                           sizeof(ptx_90)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 80, ptx_80,
                                           sizeof(ptx_80)));
  } else {
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 80, ptx_80,
                                           sizeof(ptx_80)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90,
                                           sizeof(ptx_90)));
    CHECK_OK(add_image(b, 0, SKV_IMAGE_CUBIN, 90, cubin_90,
                                           sizeof(cubin_90)));
    CHECK_OK(add_image(b, 1, SKV_IMAGE_PTX, 86, ptx_86,
                                           strlen(ptx_86)));
  }
  return b;
}

static void compare_record(const skv_pkg_spec *got, const skv_pkg_spec *want) {
  CHECK(strcmp(got->name, want->name) == 0);
  CHECK(got->head_dim == want->head_dim);
  CHECK(got->num_q_heads == want->num_q_heads);
  CHECK(got->num_kv_heads == want->num_kv_heads);
  CHECK(got->dtype == want->dtype);
  CHECK(got->splits == want->splits);
  CHECK(got->softmax_scale == want->softmax_scale);
  CHECK(strcmp(got->split_entry, want->split_entry) == 0);
  CHECK(strcmp(got->combine_entry, want->combine_entry) == 0);
  CHECK(got->split_threads == want->split_threads);
  CHECK(got->split_threads_wide == want->split_threads_wide);
  CHECK(got->split_smem_bytes == want->split_smem_bytes);
  CHECK(got->combine_threads == want->combine_threads);
  CHECK(got->tokens_per_step == want->tokens_per_step);
}

static void check_image(const uint8_t *data, const skv_pkg_header *h,
                        uint32_t i, skv_image_kind kind, uint32_t sm,
                        const void *bytes, size_t size) {
  skv_pkg_image image;
  skv_pkg_image_decode(data, h, i, &image);
  CHECK(image.kind == (uint32_t)kind);
  CHECK(image.sm == sm);
  CHECK(image.size == size);
  CHECK(image.offset % 16 == 0);
  CHECK(image.offset + image.size <= h->file_size);
  CHECK(memcmp(data + image.offset, bytes, size) == 0);
  skv_pkg_image want = make_image(kind, sm);
  CHECK(memcmp(&image.split, &want.split, sizeof(want.split)) == 0);
  CHECK(memcmp(&image.combine, &want.combine, sizeof(want.combine)) == 0);
  CHECK(memcmp(&image.split_wide, &want.split_wide, sizeof(want.split_wide)) == 0);
}

static void test_round_trip(void) {
  printf("round_trip\n");
  skv_package_builder *b = build_two_specs(0);
  uint8_t *data = NULL;
  size_t size = 0;
  CHECK_OK(skv_package_builder_write_memory(b, &data, &size));
  skv_package *pkg = NULL;
  CHECK_OK(skv_package_open_memory(data, size, &pkg));
  if (!pkg) {
    free(data);
    skv_package_builder_destroy(b);
    return;
  }
  CHECK(skv_package_spec_count(pkg) == 2);
  skv_pkg_spec llama = skv_test_pkg_record("llama3_8b", 128, 32, 8, SKV_DTYPE_BF16, 0);
  skv_pkg_spec small = skv_test_pkg_record("small_f16", 64, 8, 8, SKV_DTYPE_F16, 4);
  const skv_pkg_spec *r0 = skv_package_spec_at(pkg, 0);
  const skv_pkg_spec *r1 = skv_package_spec_at(pkg, 1);
  compare_record(r0, &llama);
  compare_record(r1, &small);
  CHECK(skv_package_spec_at(pkg, 2) == NULL);
  CHECK(r0->first_image == 0 && r0->image_count == 3);
  CHECK(r1->first_image == 3 && r1->image_count == 1);

  skv_pkg_header h;
  CHECK_OK(skv_pkg_verify(data, size, &h));
  CHECK(h.format_version == SKV_PACKAGE_FORMAT_VERSION);
  CHECK(h.file_size == size);
  CHECK(h.spec_count == 2 && h.image_count == 4);
  CHECK(strncmp(h.compiler_version, "splitkv ", 8) == 0);
  /* Within a spec: ptx before cubin, ascending sm. */
  check_image(data, &h, 0, SKV_IMAGE_PTX, 80, ptx_80, sizeof(ptx_80));
  check_image(data, &h, 1, SKV_IMAGE_PTX, 90, ptx_90, sizeof(ptx_90));
  check_image(data, &h, 2, SKV_IMAGE_CUBIN, 90, cubin_90, sizeof(cubin_90));
  /* PTX given without its NUL is stored with one. */
  check_image(data, &h, 3, SKV_IMAGE_PTX, 86, ptx_86, sizeof(ptx_86));

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

static void test_builder_errors(void) {
  printf("builder_errors\n");
  skv_package_builder *b = NULL;
  CHECK_OK(skv_package_builder_create(&b));
  uint8_t *data = NULL;
  size_t size = 0;
  CHECK_ERROR(skv_package_builder_write_memory(b, &data, &size),
              SKV_CODE_INVALID_ARGUMENT, "no specs");
  skv_pkg_spec r = skv_test_pkg_record("one", 128, 32, 8, SKV_DTYPE_BF16, 0);
  uint32_t index = 0;
  CHECK_OK(skv_package_builder_add_spec(b, &r, &index));
  CHECK_ERROR(skv_package_builder_add_spec(b, &r, &index),
              SKV_CODE_INVALID_ARGUMENT, "spec one is already in the package");
  skv_pkg_spec bad = skv_test_pkg_record("two", 100, 32, 8, SKV_DTYPE_BF16, 0);
  CHECK_ERROR(skv_package_builder_add_spec(b, &bad, &index),
              SKV_CODE_INVALID_ARGUMENT, "head_dim 100");
  bad = skv_test_pkg_record("three", 128, 32, 5, SKV_DTYPE_BF16, 0);
  CHECK_ERROR(skv_package_builder_add_spec(b, &bad, &index),
              SKV_CODE_INVALID_ARGUMENT, "num_kv_heads 5 does not divide");
  CHECK_ERROR(skv_package_builder_write_memory(b, &data, &size),
              SKV_CODE_INVALID_ARGUMENT, "spec one has no code image");
  CHECK_ERROR(add_image(b, 7, SKV_IMAGE_PTX, 90, ptx_90,
                                            sizeof(ptx_90)),
              SKV_CODE_INVALID_ARGUMENT, "spec index 7");
  CHECK_ERROR(add_image(b, 0, (skv_image_kind)5, 90,
                                            ptx_90, sizeof(ptx_90)),
              SKV_CODE_INVALID_ARGUMENT, "image record: unknown kind 5");
  skv_pkg_image greedy = make_image(SKV_IMAGE_CUBIN, 90);
  greedy.split.registers = 300;
  CHECK_ERROR(skv_package_builder_add_image(b, 0, &greedy, cubin_90,
                                            sizeof(cubin_90)),
              SKV_CODE_INVALID_ARGUMENT, "split registers 300 is more than 255");
  CHECK_ERROR(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90, 0),
              SKV_CODE_INVALID_ARGUMENT, "empty ptx sm_90 image");
  CHECK_OK(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90,
                                         sizeof(ptx_90)));
  CHECK_ERROR(add_image(b, 0, SKV_IMAGE_PTX, 90, ptx_90,
                                            sizeof(ptx_90)),
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

/* Header and image record byte offsets (package_format.c's layout). */
enum { HDR_FORMAT_VERSION = 8, HDR_ABI_VERSION = 12, HDR_CHECKSUM = 24,
       HDR_SPEC_COUNT = 32 };
enum { IMG_SPLIT = 24 };

/* Restores a valid checksum after an edit, so that the check aimed at is
 * the one that fires. */
static void reseal(uint8_t *data, size_t size) {
  put_u64(data + HDR_CHECKSUM, skv_pkg_checksum(data + SKV_PKG_HEADER_SIZE,
                                                size - SKV_PKG_HEADER_SIZE));
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

static void expect_corrupt(uint8_t *data, size_t size, const char *text,
                           int line) {
  skv_package *pkg = NULL;
  check_error(skv_package_open_memory(data, size, &pkg),
              SKV_CODE_CORRUPT_PACKAGE, text, line);
  CHECK(pkg == NULL);
  free(data);
}
#define EXPECT_CORRUPT(data, size, text)                                       \
  expect_corrupt((data), (size), (text), __LINE__)

static uint8_t *spec_at(uint8_t *data, const skv_pkg_header *h, uint32_t i) {
  return data + h->specs_offset + (uint64_t)i * SKV_PKG_SPEC_SIZE;
}

static uint8_t *image_at(uint8_t *data, const skv_pkg_header *h, uint32_t i) {
  return data + h->images_offset + (uint64_t)i * SKV_PKG_IMAGE_SIZE;
}

/* Spec record i of the pristine package, decoded. */
static skv_pkg_spec spec_record(const pristine *p, uint32_t i) {
  skv_pkg_spec r;
  skv_pkg_spec_decode(p->data, &p->header, i, &r);
  return r;
}

/* A fresh copy whose spec record i is `record`, written by the format's own
 * encoder and resealed: a field set to a value the reader must refuse,
 * without hand-computed offsets. */
static uint8_t *with_spec(const pristine *p, uint32_t i, const skv_pkg_spec *record) {
  uint8_t *d = copy_of(p);
  skv_pkg_spec_encode(record, spec_at(d, &p->header, i));
  reseal(d, p->size);
  return d;
}

static void test_corruption(void) {
  printf("corruption\n");
  pristine p = pristine_make();
  const skv_pkg_header *h = &p.header;
  uint8_t *d;
  skv_pkg_spec r;

  printf(" flipped byte\n");
  d = copy_of(&p);
  d[p.size - 3] ^= 0x40;
  EXPECT_CORRUPT(d, p.size, "checksum mismatch");

  printf(" truncated\n");
  d = copy_of(&p);
  EXPECT_CORRUPT(d, p.size - 10, "truncated");
  d = copy_of(&p);
  EXPECT_CORRUPT(d, 40, "smaller than its 88-byte header");

  printf(" bad magic\n");
  d = copy_of(&p);
  memcpy(d, "PK\3\4", 4);
  EXPECT_CORRUPT(d, p.size, "bad magic");

  printf(" version 7\n");
  d = copy_of(&p);
  put_u32(d + HDR_FORMAT_VERSION, 7);
  EXPECT_CORRUPT(d, p.size,
                 "package format version 7, this runtime reads version 5");

  /* A version 3 file (one kernel per spec) is refused by its version
   * before any record is read with the wrong layout. */
  printf(" version 3\n");
  d = copy_of(&p);
  put_u32(d + HDR_FORMAT_VERSION, 3);
  EXPECT_CORRUPT(d, p.size,
                 "package format version 3, this runtime reads version 5");

  printf(" ABI mismatch\n");
  d = copy_of(&p);
  put_u32(d + HDR_ABI_VERSION, 1);
  EXPECT_CORRUPT(d, p.size, "kernel ABI version 1");

  printf(" spec table out of bounds\n");
  d = copy_of(&p);
  put_u32(d + HDR_SPEC_COUNT, 1000);
  EXPECT_CORRUPT(d, p.size, "spec table (1000 records");

  printf(" image offset out of bounds\n");
  d = copy_of(&p);
  put_u64(image_at(d, h, 1) + 8, p.size - 4);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "image 1 (ptx sm_90): bytes");

  printf(" unknown image kind\n");
  d = copy_of(&p);
  put_u32(image_at(d, h, 2), 9);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "image 2: unknown kind 9");

  printf(" too many registers\n");
  d = copy_of(&p);
  put_u32(image_at(d, h, 1) + IMG_SPLIT, 256);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size,
                 "image 1 (ptx sm_90): split registers 256 is more than 255");

  printf(" shared memory out of range\n");
  d = copy_of(&p);
  put_u32(image_at(d, h, 2) + IMG_SPLIT + 4, 1u << 30);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "image 2 (cubin sm_90): split shared_bytes 1073741824");

  printf(" spill count out of range\n");
  d = copy_of(&p);
  put_u32(image_at(d, h, 0) + IMG_SPLIT + 12, 1u << 20);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "image 0 (ptx sm_80): split spill_store_bytes 1048576");

  printf(" cubin not an ELF file\n");
  d = copy_of(&p);
  {
    skv_pkg_image image;
    skv_pkg_image_decode(p.data, h, 2, &image);
    d[image.offset] = 'X';
  }
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "image 2 (cubin sm_90): not an ELF file");

  printf(" same kind and sm twice in a spec\n");
  d = copy_of(&p);
  put_u32(image_at(d, h, 1) + 4, 80);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size,
                 "spec 0 (llama3_8b): images 0 and 1 are both ptx sm_80");

  printf(" PTX not NUL-terminated\n");
  d = copy_of(&p);
  {
    skv_pkg_image image;
    skv_pkg_image_decode(p.data, h, 0, &image);
    d[image.offset + image.size - 1] = '\n';
  }
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "PTX image not NUL-terminated");

  printf(" name not NUL-terminated\n");
  d = copy_of(&p);
  memset(spec_at(d, h, 1), 'a', SKV_NAME_MAX);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 1: name is not NUL-terminated");

  printf(" entry not NUL-terminated\n");
  d = copy_of(&p);
  memset(spec_at(d, h, 0) + SKV_NAME_MAX + 24, 'k', SKV_ENTRY_MAX);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 0 (llama3_8b): split_entry is not NUL");
  d = copy_of(&p);
  memset(spec_at(d, h, 0) + SKV_NAME_MAX + 24 + SKV_ENTRY_MAX, 'k', SKV_ENTRY_MAX);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 0 (llama3_8b): combine_entry is not NUL");

  printf(" combine grid not covering head_dim\n");
  r = spec_record(&p, 0);
  r.combine_threads = 96;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "spec 0 (llama3_8b): combine_threads 96 is not "
                            "whole warps dividing the 16 slices");

  printf(" tokens_per_step 0\n");
  r = spec_record(&p, 0);
  r.tokens_per_step = 0;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "spec 0 (llama3_8b): tokens_per_step 0 is not in");

  printf(" wide launch not twice the narrow one\n");
  r = spec_record(&p, 0);
  r.split_threads_wide = 100;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "spec 0 (llama3_8b): split_threads_wide 100 is neither 0 nor "
                            "twice split_threads 128");

  printf(" bad dtype\n");
  r = spec_record(&p, 0);
  r.dtype = 9;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "spec 0 (llama3_8b): dtype 9");

  printf(" bad head_dim\n");
  r = spec_record(&p, 1);
  r.head_dim = 0;
  EXPECT_CORRUPT(with_spec(&p, 1, &r), p.size, "spec 1 (small_f16): head_dim 0");

  printf(" bad heads\n");
  r = spec_record(&p, 0);
  r.num_kv_heads = 0;
  EXPECT_CORRUPT(with_spec(&p, 0, &r), p.size, "num_kv_heads 0");

  printf(" spec image range out of range\n");
  r = spec_record(&p, 1);
  r.image_count = 5;
  EXPECT_CORRUPT(with_spec(&p, 1, &r), p.size, "spec 1 (small_f16): images [3, 8) out of range");

  printf(" duplicate spec name\n");
  d = copy_of(&p);
  memcpy(spec_at(d, h, 1), spec_at(d, h, 0), SKV_NAME_MAX);
  reseal(d, p.size);
  EXPECT_CORRUPT(d, p.size, "spec 1 (llama3_8b): name repeats spec 0's");

  free(p.data);
}

/* The combine grid kernel_abi.h derives: head_dim / 8 slices over the
 * block's slices (threads / lanes). */
static void test_combine_row_ctas(void) {
  printf("combine_row_ctas\n");
  skv_pkg_spec r = skv_test_pkg_record("llama3_8b", 128, 32, 8, SKV_DTYPE_BF16, 0);
  CHECK(skv_pkg_spec_combine_row_ctas(&r, 32) == 16);
  r.combine_threads = 64;
  CHECK(skv_pkg_spec_combine_row_ctas(&r, 32) == 8);
  CHECK(skv_pkg_spec_combine_row_ctas(&r, 8) == 2); /* 4 slices a warp */
  CHECK(skv_pkg_spec_combine_row_ctas(&r, 4) == 1);
  r.head_dim = 256;
  CHECK(skv_pkg_spec_combine_row_ctas(&r, 32) == 16);
  r.head_dim = 96;
  r.combine_threads = 128;
  CHECK(skv_pkg_spec_combine_row_ctas(&r, 32) == 3);
}

int main(void) {
  test_round_trip();
  test_combine_row_ctas();
  test_deterministic();
  test_file();
  test_builder_errors();
  test_corruption();
  if (failures) {
    fprintf(stderr, "test_package: %d failures\n", failures);
    return 1;
  }
  printf("test_package: all passed\n");
  return 0;
}
