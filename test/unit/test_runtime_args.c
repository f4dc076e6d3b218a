/* The runtime without a GPU: driver loading reports NO_DRIVER clearly, and
 * every decode argument is checked with a message naming it. Image choice,
 * split choice and workspace layout are checked against hand-computed
 * values.
 *
 * On a machine with a driver and a GPU the driver checks become a load of a
 * tiny valid PTX module instead. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_internal.h"
#include "splitkv/kernel_abi.h"
#include "splitkv/package_records.h"

#include "check.h"

/* An H100 SXM: 132 SMs, two narrow llama split CTAs each (224 registers),
 * or one wide one, and beside them one 64-register combine warp per SM
 * quadrant; HBM3 at 2619 MHz on 5120 bits, 3.35 TB/s: the combine kernel
 * triggers late from 100.6 MB (30 µs of streaming). */
#define H100_LATE_BYTES 100569600
static const skv_device_fill H100 = {132, 128, 64, 2, 528, H100_LATE_BYTES};
static const skv_device_fill H100_WIDE = {132, 256, 128, 1, 528, H100_LATE_BYTES};

/* The launches of a spec with both split kernels (count 2) or the narrow
 * one only (count 1), and a 64-thread combine kernel. */
static skv_launches h100_launches(int count) {
  skv_launches launches;
  memset(&launches, 0, sizeof(launches));
  launches.fills[0] = H100;
  launches.fills[1] = H100_WIDE;
  launches.fills[SKV_BALANCED_LAUNCH] = H100;
  launches.count = count;
  launches.combine_threads = 64;
  return launches;
}

static skv_pkg_spec llama_record(void) {
  skv_pkg_spec r;
  memset(&r, 0, sizeof(r));
  snprintf(r.name, sizeof(r.name), "llama3_8b");
  r.head_dim = 128;
  r.num_q_heads = 32;
  r.num_kv_heads = 8;
  r.dtype = SKV_DTYPE_BF16;
  r.splits = 0;
  r.softmax_scale = 0.08838834764831845f;
  r.kv_layout = SKV_KV_CONTIGUOUS;
  r.max_query_len = 1;
  return r;
}

/* A valid module with the entry points and the ABI's parameter lists; the
 * kernels do nothing. */
#define TINY_SPLIT_PARAMS                                                      \
  "(.param .u64 q, .param .u64 k, .param .u64 v,\n"                          \
  "  .param .u64 seqlens, .param .u64 out, .param .u64 lse,\n"               \
  "  .param .u64 part_out, .param .u64 part_lse,\n"                          \
  "  .param .u64 k_sb, .param .u64 k_st, .param .u64 k_sh,\n"                \
  "  .param .u64 v_sb, .param .u64 v_st, .param .u64 v_sh,\n"                \
  "  .param .u32 num_splits)\n"
static const char tiny_ptx[] =
    ".version 7.0\n"
    ".target sm_80\n"
    ".address_size 64\n"
    ".visible .entry tiny_split" TINY_SPLIT_PARAMS "{\n  ret;\n}\n"
    ".visible .entry tiny_split_wide" TINY_SPLIT_PARAMS "{\n  ret;\n}\n"
    ".visible .entry tiny_split_balanced" TINY_SPLIT_PARAMS "{\n  ret;\n}\n"
    ".visible .entry tiny_combine(.param .u64 part_out, .param .u64 part_lse,\n"
    "  .param .u64 out, .param .u64 lse, .param .u32 num_splits,\n"
    "  .param .u32 lanes)\n"
    "{\n  ret;\n}\n";

/* The tiny module's kernels: the narrow, wide and balanced split kernels
 * and the combine kernel. */
#define TINY_KERNELS 4
static const skv_kernel_desc tiny_kernels[TINY_KERNELS] = {
    {SKV_KERNEL_SPLIT, 128, 0, 64, "tiny_split"},
    {SKV_KERNEL_SPLIT, 256, 0, 128, "tiny_split_wide"},
    {SKV_KERNEL_BALANCED, 128, 0, 64, "tiny_split_balanced"},
    {SKV_KERNEL_COMBINE, 64, 0, 0, "tiny_combine"},
};

/* A one-spec, one-image package, written with the runtime's own encoders
 * (the package writer belongs to the compiler side, not built here). */
static uint8_t *tiny_package(size_t *out_size) {
  skv_pkg_header header;
  memset(&header, 0, sizeof(header));
  header.format_version = SKV_PACKAGE_FORMAT_VERSION;
  header.abi_version = SKV_KERNEL_ABI_VERSION;
  header.spec_count = 1;
  header.kernel_count = TINY_KERNELS;
  header.image_count = 1;
  header.resource_count = TINY_KERNELS;
  header.specs_offset = SKV_PKG_HEADER_SIZE;
  header.kernels_offset = header.specs_offset + SKV_PKG_SPEC_SIZE;
  header.images_offset = header.kernels_offset + TINY_KERNELS * SKV_PKG_KERNEL_SIZE;
  header.resources_offset = header.images_offset + SKV_PKG_IMAGE_SIZE;
  size_t blob = (header.resources_offset + TINY_KERNELS * SKV_PKG_RESOURCES_SIZE + 15) / 16 * 16;
  size_t size = blob + sizeof(tiny_ptx);
  header.file_size = size;
  snprintf(header.compiler_version, sizeof(header.compiler_version), "test");
  uint8_t *data = calloc(1, size);
  skv_pkg_spec spec = llama_record();
  spec.kernel_count = TINY_KERNELS;
  spec.image_count = 1;
  skv_pkg_spec_encode(&spec, data + header.specs_offset);
  for (int k = 0; k < TINY_KERNELS; ++k) {
    skv_pkg_kernel_encode(&tiny_kernels[k], data + header.kernels_offset + k * SKV_PKG_KERNEL_SIZE);
    skv_kernel_resources r = {.registers = 16};
    skv_pkg_resources_encode(&r, data + header.resources_offset + k * SKV_PKG_RESOURCES_SIZE);
  }
  skv_pkg_image image = {.kind = SKV_IMAGE_PTX, .sm = 80, .offset = blob,
                         .size = sizeof(tiny_ptx), .resource_count = TINY_KERNELS};
  skv_pkg_image_encode(&image, data + header.images_offset);
  memcpy(data + blob, tiny_ptx, sizeof(tiny_ptx));
  skv_pkg_header_encode(&header, data);
  header.checksum = skv_pkg_file_checksum(data, size);
  skv_pkg_header_encode(&header, data);
  *out_size = size;
  return data;
}

static void test_status(void) {
  printf("status\n");
  CHECK(skv_status_code_of(SKV_OK) == SKV_CODE_OK);
  CHECK(strcmp(skv_status_message(SKV_OK), "OK") == 0);
  CHECK(skv_status_make(SKV_CODE_OK, __FILE__, __LINE__, "x") == SKV_OK);
  skv_status s = SKV_ERROR(SKV_CODE_NOT_FOUND, "thing %d", 7);
  s = skv_status_annotate(s, "context %s", "a");
  s = skv_status_annotate(s, "outer");
  CHECK(strcmp(skv_status_message(s), "outer: context a: thing 7") == 0);
  CHECK(skv_status_code_of(s) == SKV_CODE_NOT_FOUND);
  CHECK(strcmp(skv_status_code_name(skv_status_code_of(s)), "NOT_FOUND") == 0);
  CHECK(skv_status_line(s) > 0 && strstr(skv_status_file(s), "test_runtime"));
  skv_status_free(s);
  CHECK(skv_status_annotate(SKV_OK, "x") == SKV_OK);
  skv_status_free(SKV_OK);
}

/* Without a driver: NO_DRIVER naming the library. With one: a real load. */
static void test_driver(void) {
  printf("driver\n");
  size_t size = 0;
  uint8_t *data = tiny_package(&size);
  skv_package *pkg = NULL;
  CHECK_OK(skv_package_open_memory(data, size, &pkg));
  free(data);
  if (!pkg)
    return;
  skv_attention *att = NULL;
  CHECK_ERROR(skv_attention_create(pkg, "mistral", &att), SKV_CODE_NOT_FOUND,
              "no spec \"mistral\" in the package; it has: llama3_8b");

  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    printf(" no libcuda.so.1 on the loader path: expecting NO_DRIVER\n");
    CHECK_ERROR(skv_driver_init(), SKV_CODE_NO_DRIVER,
                "CUDA driver library libcuda.so.1 not found (dlerror: ");
    /* Replayed, not retried, and the same for every entry point. */
    CHECK_ERROR(skv_driver_init(), SKV_CODE_NO_DRIVER, "libcuda.so.1 not found");
    void *function = NULL;
    CHECK_ERROR(skv_driver_entry_point("cuMemAlloc_v2", &function), SKV_CODE_NO_DRIVER,
                "libcuda.so.1 not found");
    CHECK(function == NULL);
    CHECK_ERROR(skv_attention_create(pkg, "llama3_8b", &att),
                SKV_CODE_NO_DRIVER, "libcuda.so.1 not found");
    CHECK(att == NULL);
  } else {
    dlclose(library);
    skv_status s = skv_driver_init();
    if (s) {
      printf(" driver present but unusable: expecting NO_DRIVER\n");
      CHECK_ERROR(s, SKV_CODE_NO_DRIVER, "");
    } else {
      printf(" driver and device present: loading a tiny module\n");
      void *function = NULL;
      CHECK_OK(skv_driver_entry_point("cuMemAlloc_v2", &function));
      CHECK(function != NULL);
      CHECK_ERROR(skv_driver_entry_point("cuNoSuchThing", &function), SKV_CODE_NOT_FOUND,
                  "has no entry point cuNoSuchThing");
      skv_status created = skv_attention_create(pkg, "llama3_8b", &att);
      if (created && skv_status_code_of(created) == SKV_CODE_UNSUPPORTED) {
        CHECK_ERROR(created, SKV_CODE_UNSUPPORTED, "has no image for");
      } else {
        CHECK_OK(created);
      }
      if (att) {
        /* The attention's own copy of the record. */
        CHECK(strcmp(skv_attention_record(att)->name, skv_package_spec_at(pkg, 0)->name) == 0);
        int splits = 0;
        CHECK_OK(skv_attention_num_splits(att, 1, 32768, 0, &splits));
        CHECK(splits >= 1 && splits <= SKV_MAX_SPLITS);
        printf(" batch 1, 32768 tokens: %d splits\n", splits);
        skv_attention_destroy(att);
      }
    }
  }
  skv_package_destroy(pkg);
}

/* Aligned fake device addresses: argument checks never dereference them. */
#define DEV(addr) ((void *)(uintptr_t)(addr))

static skv_decode_args valid_args(void) {
  skv_decode_args a;
  memset(&a, 0, sizeof(a));
  a.q = DEV(0x100000);
  a.k = DEV(0x200000);
  a.v = DEV(0x300000);
  a.seqlens = (const int32_t *)DEV(0x400000);
  a.out = DEV(0x500000);
  a.lse = NULL;
  a.workspace = DEV(0x600000);
  a.workspace_size = 1 << 20;
  a.batch = 2;
  a.max_seqlen = 4096;
  a.num_q_heads = 32;
  a.num_kv_heads = 8;
  a.head_dim = 128;
  /* [batch, seq, heads, dim] with room for 4096 tokens. */
  a.k_stride_batch = a.v_stride_batch = 4096LL * 8 * 128;
  a.k_stride_seq = a.v_stride_seq = 8 * 128;
  a.k_stride_head = a.v_stride_head = 128;
  a.num_splits = 0;
  return a;
}

static skv_status plan(const skv_decode_args *a) {
  skv_pkg_spec spec = llama_record();
  skv_launches launches = h100_launches(2);
  skv_decode_plan p;
  return skv_decode_plan_make(&spec, &launches, a, &p);
}

#define EXPECT_INVALID(field_edit, text)                                       \
  do {                                                                         \
    skv_decode_args a = valid_args();                                          \
    field_edit;                                                                \
    CHECK_ERROR(plan(&a), SKV_CODE_INVALID_ARGUMENT, text);                    \
  } while (0)

static void test_args(void) {
  printf("args\n");
  skv_decode_args ok = valid_args();
  CHECK_OK(plan(&ok));
  skv_pkg_spec spec = llama_record();
  skv_launches launches = h100_launches(2);
  skv_decode_plan p;
  CHECK_ERROR(skv_decode_plan_make(&spec, &launches, NULL, &p),
              SKV_CODE_INVALID_ARGUMENT, "args is NULL");

  EXPECT_INVALID(a.q = NULL, "q is NULL");
  EXPECT_INVALID(a.k = NULL, "k is NULL");
  EXPECT_INVALID(a.v = NULL, "v is NULL");
  EXPECT_INVALID(a.seqlens = NULL, "seqlens is NULL");
  EXPECT_INVALID(a.out = NULL, "out is NULL");
  EXPECT_INVALID(a.q = DEV(0x100008), "q (0x100008) is not 16-byte aligned");
  EXPECT_INVALID(a.k = DEV(0x200002), "k (0x200002) is not 16-byte aligned");
  EXPECT_INVALID(a.v = DEV(0x300004), "v (0x300004) is not 16-byte aligned");
  EXPECT_INVALID(a.out = DEV(0x500001), "out (0x500001) is not 16-byte aligned");
  EXPECT_INVALID(a.lse = DEV(0x700004), "lse (0x700004) is not 16-byte aligned");
  EXPECT_INVALID(a.workspace = DEV(0x600008),
                 "workspace (0x600008) is not 16-byte aligned");
  EXPECT_INVALID(a.seqlens = (const int32_t *)DEV(0x400002),
                 "seqlens (0x400002) is not 4-byte aligned");
  EXPECT_INVALID(a.batch = 0, "batch is 0, must be in [1, 65535]");
  EXPECT_INVALID(a.batch = 70000, "batch is 70000, must be in [1, 65535]");
  EXPECT_INVALID(a.max_seqlen = -1, "max_seqlen is -1, must be >= 0");
  EXPECT_INVALID(a.num_q_heads = 16, "num_q_heads is 16 but spec llama3_8b has 32");
  EXPECT_INVALID(a.num_kv_heads = 4, "num_kv_heads is 4 but spec llama3_8b has 8");
  EXPECT_INVALID(a.head_dim = 64, "head_dim is 64 but spec llama3_8b has 128");
  EXPECT_INVALID(a.k_stride_batch = 12,
                 "k_stride_batch is 12, must be a non-negative multiple of 8");
  EXPECT_INVALID(a.k_stride_seq = -1024, "k_stride_seq is -1024");
  EXPECT_INVALID(a.k_stride_head = 4, "k_stride_head is 4");
  EXPECT_INVALID(a.v_stride_batch = 3, "v_stride_batch is 3");
  EXPECT_INVALID(a.v_stride_seq = 1025, "v_stride_seq is 1025");
  EXPECT_INVALID(a.v_stride_head = -8, "v_stride_head is -8");
  EXPECT_INVALID(a.num_splits = -1, "num_splits is -1");
  EXPECT_INVALID(a.num_splits = SKV_MAX_SPLITS + 1, "num_splits is 257");
  /* batch 2 x 8 kv heads in 264 slots, 4096 tokens: 16 splits. */
  EXPECT_INVALID(a.workspace_size = 100,
                 "workspace is 100 bytes, this call needs 528640");
  EXPECT_INVALID((a.workspace = NULL, a.workspace_size = 1 << 20),
                 "workspace is NULL, this call needs 528640 bytes");
  /* Query tokens: 1 to the spec's max_query_len (0 means 1). */
  EXPECT_INVALID(a.q_len = 2, "q_len is 2, must be in [1, 1] (spec llama3_8b's max_query_len");
  EXPECT_INVALID(a.q_len = -1, "q_len is -1");

  /* A spec of another KV layout: these arguments describe a contiguous
   * cache. */
  skv_pkg_spec other = llama_record();
  other.kv_layout = SKV_KV_PAGED;
  other.page_size = 16;
  skv_decode_args contiguous = valid_args();
  CHECK_ERROR(skv_decode_plan_make(&other, &launches, &contiguous, &p),
              SKV_CODE_INVALID_ARGUMENT,
              "spec llama3_8b reads a paged KV cache; skv_attention_decode passes a "
              "contiguous one");

  /* With lse given and one split, no workspace at all. */
  skv_decode_args a = valid_args();
  a.lse = DEV(0x700000);
  a.num_splits = 1;
  a.workspace = NULL;
  a.workspace_size = 0;
  CHECK_OK(skv_decode_plan_make(&spec, &launches, &a, &p));
  CHECK(p.num_splits == 1 && p.workspace_bytes == 0);
  /* Without lse, one split needs the scratch only. */
  a.lse = NULL;
  CHECK_ERROR(skv_decode_plan_make(&spec, &launches, &a, &p),
              SKV_CODE_INVALID_ARGUMENT, "this call needs 256 bytes");

  /* max_query_len 4: 16 rows per kv head, one head tile, the same 16
   * splits; 4 tokens need 4 x the rows (part_out 2*4*32*16*128*4, part_lse,
   * lse scratch 2*4*32*4), 1 token what a one-token spec's call does. */
  skv_pkg_spec spec4 = llama_record();
  spec4.max_query_len = 4;
  a = valid_args();
  a.q_len = 4;
  a.workspace_size = 1 << 30;
  CHECK_OK(skv_decode_plan_make(&spec4, &launches, &a, &p));
  CHECK(p.q_len == 4 && p.num_splits == 16 && p.workspace_bytes == 2097152 + 16384 + 1024);
  a.q_len = 0;
  CHECK_OK(skv_decode_plan_make(&spec4, &launches, &a, &p));
  CHECK(p.q_len == 1 && p.num_splits == 16 && p.workspace_bytes == 528640);
  a.q_len = 5;
  CHECK_ERROR(skv_decode_plan_make(&spec4, &launches, &a, &p), SKV_CODE_INVALID_ARGUMENT,
              "q_len is 5, must be in [1, 4]");
  /* A group of 8: 8 tokens are 64 rows, four head tiles; 3 tokens two;
   * each call is planned for its own tiles (1 token: 8 CTAs a chunk,
   * 2 x 8 kv heads x 16 splits fill 264 slots; 8 tokens: 32, 4 splits). */
  skv_pkg_spec spec8 = llama_record();
  spec8.num_q_heads = 64;
  spec8.max_query_len = 8;
  CHECK(skv_head_ctas(&spec8, 8) == 32 && skv_head_ctas(&spec8, 3) == 16);
  a = valid_args();
  a.num_q_heads = 64;
  a.workspace_size = 1 << 30;
  a.q_len = 1;
  CHECK_OK(skv_decode_plan_make(&spec8, &launches, &a, &p));
  CHECK(p.num_splits == 16);
  a.q_len = 8;
  CHECK_OK(skv_decode_plan_make(&spec8, &launches, &a, &p));
  CHECK(p.num_splits == 4);
  /* The workspace a spec reports is the most any q_len needs: with at most
   * 3 tokens, 2 (one tile, 16 splits, 2 x 2 x 64 x 16 partial rows) needs
   * more than 3 (two tiles, 8 splits, 2 x 3 x 64 x 8). */
  spec8.max_query_len = 3;
  size_t most = 0, need[4] = {0};
  CHECK_OK(skv_workspace_most(&spec8, &launches, 2, 4096, 0, &most));
  for (int q = 1; q <= 3; ++q) {
    int fill = 0, splits = 0, balanced = 0;
    CHECK_OK(skv_partition_choose(&spec8, &launches, 2, q, 4096, 0, &fill, &splits, &balanced));
    need[q] = skv_workspace_bytes(&spec8, 2, q, splits, balanced);
  }
  CHECK_MSG(need[2] > need[3] && most == need[2], "most %zu, by q_len %zu %zu %zu", most,
            need[1], need[2], need[3]);
}

/* A paged call's arguments: llama3_8b with pages of 16 tokens, a block
 * table of 256 pages a row (4096 tokens). */
static skv_paged_decode_args valid_paged_args(void) {
  skv_decode_args c = valid_args();
  skv_paged_decode_args a;
  memset(&a, 0, sizeof(a));
  a.q = c.q;
  a.k_pages = c.k;
  a.v_pages = c.v;
  /* [pages, 16, heads, dim] */
  a.k_stride_page = a.v_stride_page = 16 * 8 * 128;
  a.k_stride_slot = a.v_stride_slot = 8 * 128;
  a.k_stride_head = a.v_stride_head = 128;
  a.block_table = (const int32_t *)DEV(0x800000);
  a.block_table_stride = 256;
  a.seqlens = c.seqlens;
  a.out = c.out;
  a.workspace = c.workspace;
  a.workspace_size = c.workspace_size;
  a.batch = c.batch;
  a.max_seqlen = c.max_seqlen;
  a.num_q_heads = c.num_q_heads;
  a.num_kv_heads = c.num_kv_heads;
  a.head_dim = c.head_dim;
  return a;
}

#define EXPECT_PAGED_INVALID(field_edit, text)                                 \
  do {                                                                         \
    skv_paged_decode_args a = valid_paged_args();                              \
    field_edit;                                                                \
    CHECK_ERROR(skv_paged_decode_plan_make(&paged, &launches, &a, &p),         \
                SKV_CODE_INVALID_ARGUMENT, text);                              \
  } while (0)

static void test_paged_args(void) {
  printf("paged args\n");
  skv_pkg_spec paged = llama_record();
  paged.kv_layout = SKV_KV_PAGED;
  paged.page_size = 16;
  skv_launches launches = h100_launches(2);
  skv_decode_plan p;
  skv_paged_decode_args ok = valid_paged_args();
  CHECK_OK(skv_paged_decode_plan_make(&paged, &launches, &ok, &p));
  /* The same split choice and workspace as the contiguous call of the same
   * sizes. */
  CHECK(p.num_splits == 16);
  CHECK(p.workspace_bytes == 524288 + 4096 + 256);
  /* CSR instead of a block table. */
  ok.block_table = NULL;
  ok.page_indptr = (const int32_t *)DEV(0x900000);
  ok.page_indices = (const int32_t *)DEV(0xa00000);
  CHECK_OK(skv_paged_decode_plan_make(&paged, &launches, &ok, &p));

  CHECK_ERROR(skv_paged_decode_plan_make(&paged, &launches, NULL, &p),
              SKV_CODE_INVALID_ARGUMENT, "args is NULL");
  EXPECT_PAGED_INVALID(a.k_pages = NULL, "k_pages is NULL");
  EXPECT_PAGED_INVALID(a.v_pages = DEV(0x300008), "v_pages (0x300008) is not 16-byte aligned");
  EXPECT_PAGED_INVALID(a.k_stride_slot = 12,
                       "k_stride_slot is 12, must be a non-negative multiple of 8");
  EXPECT_PAGED_INVALID(a.v_stride_page = -8, "v_stride_page is -8");
  EXPECT_PAGED_INVALID(a.block_table_stride = 255,
                       "block_table_stride is 255, a row must hold the 256 pages of "
                       "max_seqlen 4096 tokens (page_size 16)");
  EXPECT_PAGED_INVALID(a.block_table = (const int32_t *)DEV(0x800002),
                       "block_table (0x800002) is not 4-byte aligned");
  EXPECT_PAGED_INVALID(a.page_indptr = (const int32_t *)DEV(0x900000),
                       "block_table and page_indptr/page_indices are both given");
  EXPECT_PAGED_INVALID(a.block_table = NULL,
                       "no page table: pass block_table, or page_indptr and page_indices");
  EXPECT_PAGED_INVALID((a.block_table = NULL, a.page_indptr = (const int32_t *)DEV(0x900000)),
                       "page_indices is NULL");
  EXPECT_PAGED_INVALID(a.num_pages = -1, "num_pages is -1, it cannot be negative");
  EXPECT_PAGED_INVALID(a.head_dim = 64, "head_dim is 64 but spec llama3_8b has 128");
  EXPECT_PAGED_INVALID(a.workspace_size = 100,
                       "workspace is 100 bytes, this call needs 528640");
  /* A contiguous spec through the paged call. */
  skv_pkg_spec contiguous = llama_record();
  skv_paged_decode_args a = valid_paged_args();
  CHECK_ERROR(skv_paged_decode_plan_make(&contiguous, &launches, &a, &p),
              SKV_CODE_INVALID_ARGUMENT,
              "spec llama3_8b reads a contiguous KV cache; skv_attention_decode_paged passes "
              "a paged one");
}

/* The page check's per-sequence rule, on host arrays. */
static void test_page_check(void) {
  printf("page check\n");
  const int32_t ids[4] = {7, 0, 4095, 3};
  CHECK(skv_pages_of(0, 16) == 0 && skv_pages_of(1, 16) == 1 && skv_pages_of(16, 16) == 1 &&
        skv_pages_of(17, 16) == 2 && skv_pages_of(3, 1) == 3);
  /* 64 tokens of 16-token pages read 4 ids; page 0 and the last page are
   * pages; ids past the pages a length needs are never looked at. */
  CHECK_OK(skv_page_check_sequence(0, 64, 100, 16, -1, ids, "block_table", 0, 4096));
  CHECK_OK(skv_page_check_sequence(0, 33, 100, 16, 3, ids, "page_indices", 0, 4096));
  CHECK_OK(skv_page_check_sequence(0, 0, 100, 16, 0, NULL, "page_indices", 0, 1));
  CHECK_OK(skv_page_check_sequence(0, 32, 100, 16, -1, ids, "block_table", 0, 4095));
  CHECK_ERROR(skv_page_check_sequence(2, 64, 100, 16, -1, ids, "block_table", 128, 4095),
              SKV_CODE_INVALID_ARGUMENT,
              "page check: block_table[130] (page 2 of sequence 2) is 4095, outside the "
              "pool's 4095 pages");
  const int32_t negative[2] = {1, -1};
  CHECK_ERROR(skv_page_check_sequence(1, 17, 100, 16, 2, negative, "page_indices", 40, 10),
              SKV_CODE_INVALID_ARGUMENT, "page_indices[41] (page 1 of sequence 1) is -1");
  CHECK_ERROR(skv_page_check_sequence(3, 101, 100, 16, -1, ids, "block_table", 0, 4096),
              SKV_CODE_INVALID_ARGUMENT, "page check: seqlens[3] is 101, outside [0, max_seqlen 100]");
  CHECK_ERROR(skv_page_check_sequence(3, -1, 100, 16, -1, ids, "block_table", 0, 4096),
              SKV_CODE_INVALID_ARGUMENT, "seqlens[3] is -1");
  CHECK_ERROR(skv_page_check_sequence(0, 49, 100, 16, 3, ids, "page_indices", 0, 4096),
              SKV_CODE_INVALID_ARGUMENT,
              "page check: page_indptr gives sequence 0 3 pages, its 49 tokens need 4 "
              "(page_size 16)");
}

static int splits_for(const skv_pkg_spec *spec, skv_device_fill fill, int batch,
                      int max_seqlen, int override) {
  int splits = -1;
  CHECK_OK(skv_splits_choose(spec, fill, batch, 1, max_seqlen, override,
                             &splits));
  return splits;
}

static void test_splits(void) {
  printf("splits\n");
  skv_pkg_spec spec = llama_record();
  /* 8 CTAs in 264 slots (132 SMs x 2): one wave is 264 / 8 = 33 chunks,
   * down to chunks of one warp step (16 tokens at head_dim 128). */
  CHECK(splits_for(&spec, H100, 1, 2048, 0) == 33);
  CHECK(splits_for(&spec, H100, 1, 1024, 0) == 33);
  CHECK(splits_for(&spec, H100, 1, 512, 0) == 32);
  CHECK(splits_for(&spec, H100, 1, 4096, 0) == 33);
  CHECK(splits_for(&spec, H100, 1, 100000, 0) == 33);
  /* 64 x 8 CTAs fill 264 slots already; 17 x 8 = 136 leave too few for a
   * second chunk each. */
  CHECK(splits_for(&spec, H100, 64, 100000, 0) == 1);
  CHECK(splits_for(&spec, H100, 17, 100000, 0) == 1);
  /* 16 x 8 = 128 CTAs: 264 / 128 = 2. */
  CHECK(splits_for(&spec, H100, 16, 100000, 0) == 2);
  /* A sequence of one CTA step or none never splits. */
  CHECK(splits_for(&spec, H100, 1, 17, 0) == 1);
  CHECK(splits_for(&spec, H100, 1, 64, 0) == 1);
  CHECK(splits_for(&spec, H100, 1, 65, 0) == 5);
  CHECK(splits_for(&spec, H100, 1, 0, 0) == 1);
  /* One kv head, huge context: a chunk per slot, at most one per SM. */
  spec.num_kv_heads = 1;
  spec.num_q_heads = 8;
  CHECK(splits_for(&spec, (skv_device_fill){100, 128, 64, 1, 0, 0}, 1, 1 << 24, 0) == 100);
  CHECK(splits_for(&spec, H100, 1, 1 << 24, 0) == 132);
  /* Two kv heads on 132 SMs x 2: 132 chunks each, one wave. */
  spec.num_kv_heads = 2;
  spec.num_q_heads = 16;
  CHECK(splits_for(&spec, H100, 1, 1 << 24, 0) == 132);
  /* An override may go past it, up to SKV_MAX_SPLITS. */
  CHECK(splits_for(&spec, H100, 1, 1 << 24, SKV_MAX_SPLITS) == SKV_MAX_SPLITS);
  /* A fixed count wins over the heuristic, an override over both. */
  spec.splits = 4;
  CHECK(splits_for(&spec, H100, 1, 4096, 0) == 4);
  CHECK(splits_for(&spec, H100, 64, 0, 0) == 4);
  CHECK(splits_for(&spec, H100, 1, 4096, 7) == 7);
  int splits = 0;
  CHECK_ERROR(skv_splits_choose(&spec, H100, 0, 1, 10, 0, &splits),
              SKV_CODE_INVALID_ARGUMENT, "batch is 0");
}

/* The partition of a call on the H100 launches (llama3_8b: 8 kv heads). */
static int balanced_for(skv_partition partition, int batch, int max_seqlen, int override,
                        int *out_splits) {
  skv_pkg_spec spec = llama_record();
  skv_launches launches = h100_launches(2);
  launches.partition = partition;
  int fill = 0, balanced = -1;
  CHECK_OK(skv_partition_choose(&spec, &launches, batch, 1, max_seqlen, override, &fill,
                                out_splits, &balanced));
  return balanced;
}

static void test_partition(void) {
  printf("partition\n");
  int splits = 0;
  /* One uniform chunk of 131072 tokens per sequence: balanced, a wave of
   * the narrow launch, 264 CTAs over 8 kv heads. */
  CHECK(balanced_for(SKV_PARTITION_AUTO, 32, 131072, 0, &splits) == 1 && splits == 33);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 2, 8192, 0, &splits) == 0 && splits == 16);
  /* Batch 8 at 32768: 4 chunks of 8192: balanced; at 8192, 2048: not. */
  CHECK(balanced_for(SKV_PARTITION_AUTO, 8, 32768, 0, &splits) == 1 && splits == 33);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 8, 8192, 0, &splits) == 0 && splits == 4);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 64, 4096, 0, &splits) == 1);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 64, 4095, 0, &splits) == 0);
  /* A single sequence, an override, too many sequences or tokens: uniform. */
  CHECK(balanced_for(SKV_PARTITION_AUTO, 1, 131072, 0, &splits) == 0 && splits == 33);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 32, 131072, 7, &splits) == 0 && splits == 7);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 256, 8192, 0, &splits) == 1);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 257, 8192, 0, &splits) == 0);
  CHECK(balanced_for(SKV_PARTITION_AUTO, 128, 1 << 24, 0, &splits) == 0);
  /* Forced either way (SKV_PARTITION). */
  CHECK(balanced_for(SKV_PARTITION_BALANCED, 1, 100, 0, &splits) == 1 && splits == 33);
  CHECK(balanced_for(SKV_PARTITION_BALANCED, 8, 100, 3, &splits) == 0 && splits == 3);
  CHECK(balanced_for(SKV_PARTITION_UNIFORM, 32, 131072, 0, &splits) == 0 && splits == 1);

  /* A sliding window bounds every sequence's work: the count is the
   * window's, whatever max_seqlen (64 tokens: one CTA step, one chunk). */
  skv_pkg_spec spec = llama_record();
  spec.sliding_window = 64;
  skv_launches launches = h100_launches(2);
  int fill = 0, balanced = -1;
  CHECK_OK(skv_partition_choose(&spec, &launches, 1, 1, 131072, 0, &fill, &splits, &balanced));
  CHECK(splits == 1 && balanced == 0);
  CHECK_OK(skv_partition_choose(&spec, &launches, 32, 1, 131072, 0, &fill, &splits, &balanced));
  CHECK(splits == 1 && balanced == 0);
  spec.sliding_window = 4096;
  CHECK_OK(skv_partition_choose(&spec, &launches, 1, 1, 131072, 0, &fill, &splits, &balanced));
  CHECK(splits == 33 && balanced == 0);
  CHECK(skv_combine_late_choose(&spec, launches.fills[0], 1, 1, 131072) == 0);
}

static void test_workspace(void) {
  printf("workspace\n");
  skv_pkg_spec spec = llama_record();
  /* One split: the lse scratch, f32[2 * 32], rounded up to 256 bytes. */
  CHECK(skv_workspace_bytes(&spec, 2, 1, 1, 0) == 256);
  /* 16 splits: part_out 2*32*16*128*4 + part_lse 2*32*16*4 + scratch. */
  CHECK(skv_workspace_bytes(&spec, 2, 1, 16, 0) == 524288 + 4096 + 256);
  /* Balanced, 33 CTAs per kv head: part_out 32*(33+2)*128*4, part_lse
   * 32*35*4 (4480, to 4608), chunk_table 2*2*4 (to 256), scratch. */
  CHECK(skv_workspace_bytes(&spec, 2, 1, 33, 1) == 573440 + 4608 + 256 + 256);
  /* Odd sizes round each region up to 256 bytes. */
  spec.num_q_heads = 3;
  spec.num_kv_heads = 1;
  spec.head_dim = 8;
  CHECK(skv_workspace_bytes(&spec, 1, 1, 3, 0) == 512 + 256 + 256);

  skv_pkg_spec llama = llama_record();
  skv_launches launches = h100_launches(2);
  skv_decode_args a = valid_args();
  skv_decode_plan p;
  CHECK_OK(skv_decode_plan_make(&llama, &launches, &a, &p));
  CHECK(p.num_splits == 16);
  CHECK(p.part_out_offset == 0);
  CHECK(p.part_lse_offset == 524288);
  CHECK(p.lse_offset == 524288 + 4096);
  CHECK(p.workspace_bytes == 524288 + 4096 + 256);
  CHECK(p.part_lse_offset % SKV_WORKSPACE_ALIGN == 0 &&
        p.lse_offset % SKV_WORKSPACE_ALIGN == 0);
}

/* Which image a device of compute capability device_sm loads from images
 * (as a spec's would be: sorted by kind, then sm); -1 for none. */
static int choose(const skv_pkg_image *images, uint32_t count, int device_sm) {
  uint32_t index = 0;
  skv_status status =
      skv_image_choose(images, count, device_sm, "test device", &index);
  if (status) {
    skv_status_free(status);
    return -1;
  }
  return (int)index;
}

static void test_image_choice(void) {
  printf("image choice\n");
  /* A spec built for sm_80 and sm_90, both kinds: indices 0-3. */
  const skv_pkg_image both[] = {{.kind = SKV_IMAGE_PTX, .sm = 80},
                                {.kind = SKV_IMAGE_PTX, .sm = 90},
                                {.kind = SKV_IMAGE_CUBIN, .sm = 80},
                                {.kind = SKV_IMAGE_CUBIN, .sm = 90}};
  CHECK(choose(both, 4, 90) == 3); /* cubin, exact */
  CHECK(choose(both, 4, 80) == 2);
  CHECK(choose(both, 4, 86) == 2); /* cubin sm_80 runs on 8.6 */
  CHECK(choose(both, 4, 89) == 2);
  CHECK(choose(both, 4, 100) == 1); /* newer major: the newest PTX, JIT */
  CHECK(choose(both, 4, 120) == 1);
  CHECK(choose(both, 4, 75) == -1);

  /* sm_80 PTX only (the gpu_package_ptx_only test's package). */
  const skv_pkg_image ptx80[] = {{.kind = SKV_IMAGE_PTX, .sm = 80}};
  CHECK(choose(ptx80, 1, 90) == 0);
  CHECK(choose(ptx80, 1, 80) == 0);

  /* A cubin of another major never runs; its PTX never runs backwards. */
  const skv_pkg_image sm86[] = {{.kind = SKV_IMAGE_PTX, .sm = 86},
                                {.kind = SKV_IMAGE_CUBIN, .sm = 80},
                                {.kind = SKV_IMAGE_CUBIN, .sm = 86}};
  CHECK(choose(sm86, 3, 89) == 2); /* the newest cubin of the major */
  CHECK(choose(sm86, 3, 90) == 0); /* no sm_9x cubin: PTX sm_86 */
  CHECK(choose(sm86, 3, 80) == 1);
  CHECK(choose(sm86, 3, 86) == 2);
  const skv_pkg_image cubin90[] = {{.kind = SKV_IMAGE_CUBIN, .sm = 90}};
  CHECK(choose(cubin90, 1, 100) == -1);

  /* None: the message names the device and every target with its kinds. */
  uint32_t index = 7;
  CHECK_ERROR(skv_image_choose(both, 4, 75, "Tesla T4", &index),
              SKV_CODE_UNSUPPORTED,
              "device Tesla T4 (sm_75) has no image in this package: it holds "
              "sm_80 (cubin, ptx), sm_90 (cubin, ptx)");
  CHECK_ERROR(skv_image_choose(sm86, 3, 75, "Tesla T4", &index),
              SKV_CODE_UNSUPPORTED, "it holds sm_80 (cubin), sm_86 (cubin, ptx)");
  CHECK_ERROR(skv_image_choose(cubin90, 1, 100, "NVIDIA B200", &index),
              SKV_CODE_UNSUPPORTED,
              "device NVIDIA B200 (sm_100) has no image in this package: it "
              "holds sm_90 (cubin)");
  CHECK(index == 7);
}

/* Combine warps beside a wave of split CTAs: a quadrant's 16384 registers
 * less its share of split warps, in units of 8 registers per thread. */
static void test_combine_warps(void) {
  printf("combine_warps\n");
  /* Two 4-warp CTAs: two split warps per quadrant. 224 registers leave
   * 2048, one 64-register warp; 215 round up to 216 and leave one too. */
  CHECK(skv_combine_warps_resident(132, 65536, 2, 128, 224, 64) == 528);
  CHECK(skv_combine_warps_resident(132, 65536, 2, 128, 215, 64) == 528);
  CHECK(skv_combine_warps_resident(132, 65536, 2, 128, 224, 56) == 528);
  CHECK(skv_combine_warps_resident(132, 65536, 2, 128, 200, 50) == 132 * 4 * 2);
  /* 255 registers (256) fill the quadrant: none. */
  CHECK(skv_combine_warps_resident(132, 65536, 2, 128, 255, 64) == 0);
  /* One CTA per SM: one split warp per quadrant leaves 9216, 4 warps. */
  CHECK(skv_combine_warps_resident(132, 65536, 1, 128, 224, 64) == 132 * 4 * 4);
  CHECK(skv_combine_warps_resident(132, 65536, 2, 128, 224, 0) == 0);
}

/* The launch (0 narrow, 1 wide) and split count of a call, as one number:
 * 1000 * launch + splits. */
static int launch_for(const skv_pkg_spec *spec, int count, int batch, int max_seqlen,
                      int override) {
  int fill = -1, splits = -1;
  skv_launches launches = h100_launches(count);
  CHECK_OK(skv_launch_choose(spec, &launches, batch, 1, max_seqlen, override, &fill, &splits));
  return 1000 * fill + splits;
}

/* The choices docs/perf-log.md §27 measured. */
static void test_launch(void) {
  printf("launch\n");
  skv_pkg_spec spec = llama_record();
  /* Batch 1: 33 narrow chunks (264 CTAs, 1056 warps) against 16 wide ones
   * (1024 warps): both split, narrow. */
  CHECK(launch_for(&spec, 2, 1, 8192, 0) == 33);
  CHECK(launch_for(&spec, 2, 8, 2048, 0) == 4);
  /* Batch 16 (128 rows): 2 narrow chunks or 1 wide, 1024 warps either way:
   * wide, without the combine kernel; batch 12 likewise. */
  CHECK(launch_for(&spec, 2, 16, 2048, 0) == 1001);
  CHECK(launch_for(&spec, 2, 12, 2048, 0) == 1001);
  /* Batch 20 (160 rows): 640 narrow warps, 1056 wide ones in the first
   * wave. Batch 32 (256 rows): 1024 against 1056, neither splits: narrow,
   * one wave. */
  CHECK(launch_for(&spec, 2, 20, 2048, 0) == 1001);
  CHECK(launch_for(&spec, 2, 32, 2048, 0) == 1);
  /* A spec without the wide launch: always narrow. */
  CHECK(launch_for(&spec, 1, 16, 2048, 0) == 2);
  /* One split forced at batch 1: 8 CTAs, wide has twice the warps. */
  CHECK(launch_for(&spec, 2, 1, 8192, 1) == 1001);
  /* Two kv heads at batch 1: 132 narrow chunks or 66 wide ones, 1056 warps
   * either way: wide, the combine kernel merging half as many; four kv heads
   * likewise (66 against 33); eight stay narrow (33 against 16). */
  spec.num_kv_heads = 2;
  spec.num_q_heads = 16;
  CHECK(launch_for(&spec, 2, 1, 32768, 0) == 1066);
  spec.num_kv_heads = 4;
  spec.num_q_heads = 32;
  CHECK(launch_for(&spec, 2, 1, 20000, 0) == 1033);
  /* A forced count is the same in both: no fewer chunks, narrow. */
  CHECK(launch_for(&spec, 2, 3, 4097, 256) == 256);
  /* One kv head (MQA) at batch 1: a chunk per SM either way, 528 narrow
   * warps, 1056 wide; at batch 8 33 narrow chunks fill the slots. */
  spec.num_kv_heads = 1;
  spec.num_q_heads = 8;
  CHECK(launch_for(&spec, 2, 1, 65536, 0) == 1132);
  CHECK(launch_for(&spec, 2, 8, 8192, 0) == 33);
  /* A group of 48 is three head tiles, a CTA each (target.h): the slots
   * hold a third of the chunks, 88 narrow (264 CTAs) or 44 wide, and wide
   * is taken at 64 chunks or more. 71 q heads: five tiles, 52 narrow. */
  spec.num_q_heads = 48;
  CHECK(skv_head_ctas(&spec, 1) == 3);
  CHECK(launch_for(&spec, 2, 1, 65536, 0) == 1044);
  CHECK(launch_for(&spec, 1, 1, 65536, 0) == 88);
  spec.num_q_heads = 71;
  CHECK(skv_head_ctas(&spec, 1) == 5);
  CHECK(launch_for(&spec, 1, 1, 65536, 0) == 52);
}

static int lanes_for(int q_heads, int head_dim, skv_device_fill fill, int batch,
                     int splits) {
  skv_pkg_spec spec = llama_record();
  spec.num_q_heads = (uint32_t)q_heads;
  spec.head_dim = (uint32_t)head_dim;
  /* 64 threads: what the compiler gives every head_dim. */
  return skv_combine_lanes_choose(&spec, 64, fill, batch, 1, splits);
}

/* 32 lanes while the call's combine warps fit beside the split CTAs (528
 * on an H100); fewer while they do not and one round of 6 loads per lane
 * still covers the chunks. */
static void test_combine_lanes(void) {
  printf("combine_lanes\n");
  /* Batch 1, 33 chunks: 32 q heads x 16 slices = 512 warps fit; 64 q heads
   * need 1024 at 32 lanes, 512 at 16; 128 q heads 8 lanes. */
  CHECK(lanes_for(32, 128, H100, 1, 33) == 32);
  CHECK(lanes_for(64, 128, H100, 1, 33) == 16);
  CHECK(lanes_for(128, 128, H100, 1, 33) == 8);
  /* Batch 8 in 4 chunks: 4096 slices, 512 warps at 4 lanes. */
  CHECK(lanes_for(32, 128, H100, 8, 4) == 4);
  /* MQA, 132 chunks: 128 warps fit. */
  CHECK(lanes_for(8, 128, H100, 1, 132) == 32);
  /* 256 chunks need 32 lanes for one round (16 x 6 = 96 < 256). */
  CHECK(lanes_for(32, 128, H100, 8, 256) == 32);
  /* 8 chunks cannot be fewer than 2 lanes (2 x 6 = 12), and a 64-thread CTA
   * of 1 lane would hold 64 slices, more than head_dim 128 has (16): at
   * 2 lanes 32, still more, so 4. */
  CHECK(lanes_for(32, 128, H100, 64, 1) == 4);
  /* head_dim 64 (8 slices): 8 lanes, 8 slices a CTA, at most. */
  CHECK(lanes_for(32, 64, H100, 8, 4) == 8);
  /* No combine warps resident (no PDL): 32. */
  CHECK(lanes_for(128, 128, (skv_device_fill){132, 128, 64, 2, 0, 0}, 8, 4) == 32);
}

static int late_for(int batch, int max_seqlen, skv_device_fill fill) {
  skv_pkg_spec spec = llama_record();
  return skv_combine_late_choose(&spec, fill, batch, 1, max_seqlen);
}

/* The late trigger from 30 µs of the device's peak bandwidth on: llama3_8b
 * reads 4096 bytes of K and V per token and sequence. */
static void test_combine_late(void) {
  printf("combine_late\n");
  CHECK(skv_late_trigger_bytes(2619000, 5120) == H100_LATE_BYTES);
  /* An H200: HBM3e at 3201 MHz on 6144 bits, 4.9 TB/s: 147.5 MB. */
  CHECK(skv_late_trigger_bytes(3201000, 6144) == 147502080);
  CHECK(late_for(1, 16384, H100) == 0);  /* 67.1 MB */
  CHECK(late_for(1, 24553, H100) == 0);  /* 100,569,088 bytes */
  CHECK(late_for(1, 24554, H100) == 1);  /* 100,573,184 */
  CHECK(late_for(1, 131072, H100) == 1);
  CHECK(late_for(8, 8192, H100) == 1);
  CHECK(late_for(64, 1024, H100) == 1);
  /* Without programmatic dependent launch: never. */
  CHECK(late_for(64, 131072, (skv_device_fill){132, 128, 64, 2, 0, 0}) == 0);
  /* The largest call sizes a record and a call hold: 2 x 65535 x 1024 kv
   * heads x (2^31 - 1) x 512 x 2 bytes, past 2^63, late and no overflow
   * (UBSan in CI). */
  skv_pkg_spec huge = llama_record();
  huge.num_kv_heads = 1024;
  huge.num_q_heads = 1024;
  huge.head_dim = 512;
  CHECK(skv_combine_late_choose(&huge, H100, 65535, 1, 2147483647) == 1);
}

int main(void) {
  test_status();
  test_image_choice();
  test_driver();
  test_args();
  test_paged_args();
  test_page_check();
  test_splits();
  test_launch();
  test_combine_warps();
  test_combine_lanes();
  test_combine_late();
  test_workspace();
  test_partition();
  if (failures) {
    fprintf(stderr, "test_runtime_args: %d failures\n", failures);
    return 1;
  }
  printf("test_runtime_args: all passed\n");
  return 0;
}
