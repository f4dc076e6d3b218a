/* The runtime through a stub CUDA driver (stub_cuda.c, first on
 * LD_LIBRARY_PATH): the real loading and launch code without a GPU.
 *  - lifetimes: an attention outlives the package it was created from
 *    (decode, info, errors, destroy all still work), and the usual order
 *    works too; every module loaded is unloaded once. Under
 *    AddressSanitizer (the sanitizer build) a read of the freed package is
 *    a report; without it, the freed records' first bytes are reused by
 *    the allocator, which the name checks below see.
 *  - sizes: a spec whose heads x head_dim overflow the runtime's 64-bit
 *    call sizes (1024 kv heads, head_dim 256) is refused at create, naming
 *    them, instead of overflowing in a later call (issue 23, items 3 and
 *    4). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/package_format.h"
#include "splitkv/runtime.h"

#include "check.h"
#include "pkg_bytes.h"
#include "pkg_record.h"

/* The stub's reports, found in the driver library the runtime opened. */
static int (*stub_modules_live)(void);
static int (*stub_launches)(void);
static const char *(*stub_last_launch)(unsigned grid[3]);

static int stub_find(void) {
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (library) {
    stub_modules_live = (int (*)(void))dlsym(library, "skv_stub_modules_live");
    stub_launches = (int (*)(void))dlsym(library, "skv_stub_launches");
    stub_last_launch = (const char *(*)(unsigned[3]))dlsym(library, "skv_stub_last_launch");
  }
  if (!stub_modules_live || !stub_launches || !stub_last_launch) {
    fprintf(stderr, "test_lifetimes: the driver opened is not the stub (run it with the "
                    "stub's directory first on LD_LIBRARY_PATH, as ctest does)\n");
    ++failures;
    return 0;
  }
  return 1;
}

static const uint8_t cubin[16] = {0x7f, 'E', 'L', 'F'};

/* Two specs with an sm_90 cubin each: llama3_8b (32 q, 8 kv heads, head
 * dim 128) and too_big (1024 kv heads, head_dim 256). */
static skv_package *open_package(void) {
  enum { SPECS = 2 };
  static const char *const names[SPECS] = {"llama3_8b", "too_big"};
  skv_pkg_spec records[SPECS] = {
      skv_test_pkg_record(names[0], 128, 32, 8, SKV_DTYPE_BF16, 0),
      skv_test_pkg_record(names[1], 256, 1024, 1024, SKV_DTYPE_BF16, 0),
  };
  skv_test_pkg p = skv_test_pkg_begin(SPECS, SPECS * SKV_TEST_KERNELS, SPECS,
                                      SPECS * SKV_TEST_KERNELS, SPECS * sizeof(cubin));
  if (!p.data)
    return NULL;
  for (uint32_t s = 0; s < SPECS; ++s) {
    records[s].first_kernel = s * SKV_TEST_KERNELS;
    records[s].kernel_count = SKV_TEST_KERNELS;
    records[s].first_image = s;
    records[s].image_count = 1;
    skv_pkg_spec_encode(&records[s], skv_test_pkg_spec(&p, s));
    skv_kernel_desc kernels[SKV_TEST_KERNELS];
    skv_test_pkg_kernels(names[s], kernels);
    for (uint32_t k = 0; k < SKV_TEST_KERNELS; ++k)
      skv_pkg_kernel_encode(&kernels[k], skv_test_pkg_kernel(&p, s * SKV_TEST_KERNELS + k));
    skv_pkg_image image = {.kind = SKV_IMAGE_CUBIN,
                           .sm = 90,
                           .offset = p.blobs_at + s * sizeof(cubin),
                           .size = sizeof(cubin),
                           .first_resource = s * SKV_TEST_KERNELS,
                           .resource_count = SKV_TEST_KERNELS};
    skv_pkg_image_encode(&image, skv_test_pkg_image(&p, s));
    memcpy(p.data + image.offset, cubin, sizeof(cubin));
  }
  skv_test_pkg_seal(&p);
  skv_package *pkg = NULL;
  CHECK_OK(skv_package_open_memory(p.data, p.size, &pkg));
  free(p.data);
  return pkg;
}

/* Fake device addresses: the stub never reads them, the runtime only
 * checks their alignment. */
#define FAKE(n) ((void *)(uintptr_t)(0x100000u * (n)))

/* A decode call of llama3_8b (batch 2, 4096 tokens) through att. */
static skv_status decode(const skv_attention *att, int num_q_heads) {
  size_t ws = 0;
  skv_status status = skv_attention_workspace_size(att, 2, 4096, 0, &ws);
  if (status)
    return status;
  skv_decode_args a = {
      .q = FAKE(1), .k = FAKE(2), .v = FAKE(3), .seqlens = FAKE(4), .out = FAKE(5),
      .lse = NULL, .workspace = FAKE(6), .workspace_size = ws,
      .batch = 2, .max_seqlen = 4096,
      .num_q_heads = num_q_heads, .num_kv_heads = 8, .head_dim = 128,
      .k_stride_batch = 4096 * 8 * 128, .k_stride_seq = 8 * 128, .k_stride_head = 128,
      .v_stride_batch = 4096 * 8 * 128, .v_stride_seq = 8 * 128, .v_stride_head = 128,
  };
  return skv_attention_decode(att, &a, NULL);
}

/* Everything a caller may do with an attention, checked against llama3_8b. */
static void use(const skv_attention *att) {
  int launches = stub_launches();
  CHECK_OK(decode(att, 32));
  CHECK(stub_launches() > launches);
  unsigned grid[3];
  const char *name = stub_last_launch(grid);
  /* 4096 tokens over 16 (batch, kv head) rows split: the combine kernel
   * comes last, a row of CTAs per sequence. */
  CHECK_MSG(strcmp(name, "llama3_8b_combine") == 0, "launched %s", name);
  CHECK_MSG(grid[1] == 2, "grid %u x %u x %u", grid[0], grid[1], grid[2]);
  skv_spec_info info;
  skv_attention_info(att, &info);
  CHECK(strcmp(info.name, "llama3_8b") == 0);
  CHECK(info.num_q_heads == 32 && info.num_kv_heads == 8 && info.head_dim == 128);
  /* An error names the spec from the attention's own record. */
  CHECK_ERROR(decode(att, 31), SKV_CODE_INVALID_ARGUMENT,
              "num_q_heads is 31 but spec llama3_8b has 32");
  int splits = 0;
  CHECK_OK(skv_attention_num_splits(att, 1, 65536, 0, &splits));
  CHECK(splits >= 1 && splits <= SKV_MAX_SPLITS);
}

static void test_package_first(void) {
  printf("package destroyed first\n");
  skv_package *pkg = open_package();
  skv_attention *att = NULL;
  CHECK_OK(skv_attention_create(pkg, "llama3_8b", &att));
  if (!att || !stub_find()) {
    skv_package_destroy(pkg);
    return;
  }
  CHECK(stub_modules_live() == 1);
  skv_package_destroy(pkg);
  use(att);
  skv_attention_destroy(att);
  CHECK(stub_modules_live() == 0);
}

static void test_attention_first(void) {
  printf("attention destroyed first\n");
  skv_package *pkg = open_package();
  skv_attention *att = NULL;
  CHECK_OK(skv_attention_create(pkg, "llama3_8b", &att));
  if (!att || !stub_find()) {
    skv_package_destroy(pkg);
    return;
  }
  use(att);
  skv_attention_destroy(att);
  CHECK(stub_modules_live() == 0);
  skv_package_destroy(pkg);
}

static void test_sizes(void) {
  printf("sizes\n");
  skv_package *pkg = open_package();
  skv_attention *att = NULL;
  CHECK_ERROR(skv_attention_create(pkg, "too_big", &att), SKV_CODE_UNSUPPORTED,
              "spec too_big: 1024 kv heads x head_dim 256 is too large for the runtime's "
              "64-bit sizes");
  CHECK(att == NULL);
  skv_attention_destroy(att);
  /* The largest spec field values with a window: sized by the window. */
  CHECK_OK(skv_pkg_sizes_check(1024, 1024, 256, 4096));
  CHECK_OK(skv_pkg_sizes_check(128, 128, 128, 0));
  CHECK_ERROR(skv_pkg_sizes_check(256, 256, 128, 0), SKV_CODE_UNSUPPORTED,
              "256 kv heads x head_dim 128");
  skv_package_destroy(pkg);
}

int main(void) {
  test_package_first();
  test_attention_first();
  test_sizes();
  if (failures) {
    fprintf(stderr, "test_lifetimes: %d failures\n", failures);
    return 1;
  }
  printf("test_lifetimes: all passed\n");
  return 0;
}
