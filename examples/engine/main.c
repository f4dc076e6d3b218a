/* A minimal engine on the installed splitkv runtime: opens a kernel package,
 * lists its specs and, where a GPU is present, runs one decode step of a
 * spec on random data.
 *
 *   skv_engine PACKAGE [SPEC]
 *
 * Exit status: 0 when the package was listed and, with a GPU, the decode ran
 * and gave finite outputs; without a CUDA driver or device it prints the
 * runtime's NO_DRIVER message, skips the decode and still exits 0 (listing a
 * package needs no GPU). 1 on any error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/runtime.h"

/* The runtime leaves device memory to the engine. This one asks the
 * runtime for the driver's entry points (the driver the runtime opened, never
 * linked), so it also runs on a machine without one. */
typedef struct engine_cuda {
  CUresult (*mem_alloc)(CUdeviceptr *ptr, size_t bytes);
  CUresult (*mem_free)(CUdeviceptr ptr);
  CUresult (*copy_to_device)(CUdeviceptr dst, const void *src, size_t bytes);
  CUresult (*copy_to_host)(void *dst, CUdeviceptr src, size_t bytes);
  CUresult (*synchronize)(void);
} engine_cuda;

/* Prints and frees a failure; returns whether there was one. */
static int failed(skv_status status, const char *what);

static int engine_cuda_open(engine_cuda *cu) {
  memset(cu, 0, sizeof *cu);
  return !failed(skv_driver_entry_point("cuMemAlloc_v2", (void **)&cu->mem_alloc), "driver") &&
         !failed(skv_driver_entry_point("cuMemFree_v2", (void **)&cu->mem_free), "driver") &&
         !failed(skv_driver_entry_point("cuMemcpyHtoD_v2", (void **)&cu->copy_to_device),
                 "driver") &&
         !failed(skv_driver_entry_point("cuMemcpyDtoH_v2", (void **)&cu->copy_to_host),
                 "driver") &&
         !failed(skv_driver_entry_point("cuCtxSynchronize", (void **)&cu->synchronize),
                 "driver");
}

/* Prints and frees a failure; returns whether there was one. */
static int failed(skv_status status, const char *what) {
  if (!status)
    return 0;
  fprintf(stderr, "skv_engine: %s: %s\n", what, skv_status_message(status));
  skv_status_free(status);
  return 1;
}

static void list_specs(const char *path, const skv_package *package) {
  uint32_t count = skv_package_spec_count(package);
  printf("%s: %u spec%s\n", path, count, count == 1 ? "" : "s");
  for (uint32_t i = 0; i < count; ++i) {
    skv_spec_info spec;
    if (failed(skv_package_spec_info(package, i, &spec), "spec"))
      continue;
    char splits[16] = "auto";
    if (spec.splits)
      snprintf(splits, sizeof splits, "%d", spec.splits);
    printf("  %s: head_dim %d, %d q heads, %d kv heads, %s, splits %s, %s", spec.name,
           spec.head_dim, spec.num_q_heads, spec.num_kv_heads, skv_dtype_name(spec.dtype),
           splits, skv_kv_layout_name(spec.kv_layout));
    if (spec.page_size)
      printf(" (pages of %d)", spec.page_size);
    printf("\n");
  }
}

/* Uniform in [-1, 1) from a xorshift state. */
static float random_unit(uint64_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return (float)(*state >> 40) / (float)(1u << 23) - 1.0f;
}

/* x in [-1, 1] to bf16 or f16 bits (round to nearest even for bf16; f16
 * truncates and flushes |x| < 2^-14 to zero: fine for random inputs). */
static uint16_t to_half(float x, skv_dtype dtype) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  if (dtype == SKV_DTYPE_BF16)
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  uint32_t sign = (bits >> 16) & 0x8000u;
  int exponent = (int)((bits >> 23) & 0xffu) - 127 + 15;
  if (exponent <= 0)
    return (uint16_t)sign;
  return (uint16_t)(sign | (uint32_t)exponent << 10 | (bits & 0x7fffffu) >> 13);
}

/* One decode step of spec `name`: batch 1, 1000 cached tokens, in a
 * contiguous cache or, for a paged spec, in pages listed by a block table. */
static int run_decode(const skv_package *package, const char *name) {
  enum { BATCH = 1, SEQLEN = 1000 };
  int rc = 1;
  engine_cuda cu = {0};
  skv_attention *attention = NULL;
  CUdeviceptr q = 0, k = 0, v = 0, seqlens = 0, out = 0, lse = 0, ws = 0, table = 0;
  uint16_t *host = NULL;
  float *host_lse = NULL;

  /* Creating the attention makes a context current (the runtime retains
   * device 0's primary context when none is): allocate after it. */
  if (failed(skv_attention_create(package, name, &attention), name))
    goto done;
  if (!engine_cuda_open(&cu))
    goto done;
  skv_spec_info spec;
  skv_attention_info(attention, &spec);
  int hq = spec.num_q_heads, hkv = spec.num_kv_heads, d = spec.head_dim;
  size_t q_elems = (size_t)BATCH * hq * d;
  /* A paged cache: the pages of SEQLEN tokens, [pages, page_size, kv heads,
   * head_dim], listed last page first (any order will do). */
  const int paged = spec.kv_layout == SKV_KV_PAGED;
  const int page_size = paged ? spec.page_size : SEQLEN;
  const int pages = (SEQLEN + page_size - 1) / page_size;
  int32_t host_table[SEQLEN];
  for (int i = 0; i < pages; ++i)
    host_table[i] = pages - 1 - i;
  size_t kv_elems = (size_t)BATCH * pages * page_size * hkv * d;
  int splits = 0;
  size_t ws_bytes = 0;
  if (failed(skv_attention_num_splits(attention, BATCH, SEQLEN, 0, &splits),
             "num_splits") ||
      failed(skv_attention_workspace_size(attention, BATCH, SEQLEN, 0,
                                          &ws_bytes),
             "workspace_size"))
    goto done;

  host = malloc(kv_elems * sizeof *host);
  host_lse = malloc((size_t)BATCH * hq * sizeof *host_lse);
  if (!host || !host_lse) {
    fprintf(stderr, "skv_engine: out of host memory\n");
    goto done;
  }
  int32_t host_seqlens[BATCH] = {SEQLEN};
  if (cu.mem_alloc(&q, q_elems * 2) || cu.mem_alloc(&k, kv_elems * 2) ||
      cu.mem_alloc(&v, kv_elems * 2) || cu.mem_alloc(&out, q_elems * 2) ||
      cu.mem_alloc(&seqlens, sizeof host_seqlens) ||
      cu.mem_alloc(&lse, (size_t)BATCH * hq * sizeof(float)) ||
      (ws_bytes && cu.mem_alloc(&ws, ws_bytes)) ||
      (paged && cu.mem_alloc(&table, (size_t)pages * sizeof(int32_t)))) {
    fprintf(stderr, "skv_engine: cuMemAlloc failed\n");
    goto done;
  }
  uint64_t state = 0x9e3779b97f4a7c15ull;
  CUdeviceptr inputs[3] = {q, k, v};
  size_t sizes[3] = {q_elems, kv_elems, kv_elems};
  for (int t = 0; t < 3; ++t) {
    for (size_t i = 0; i < sizes[t]; ++i)
      host[i] = to_half(random_unit(&state), spec.dtype);
    if (cu.copy_to_device(inputs[t], host, sizes[t] * 2)) {
      fprintf(stderr, "skv_engine: cuMemcpyHtoD failed\n");
      goto done;
    }
  }
  if (cu.copy_to_device(seqlens, host_seqlens, sizeof host_seqlens) ||
      (paged && cu.copy_to_device(table, host_table, (size_t)pages * sizeof(int32_t)))) {
    fprintf(stderr, "skv_engine: cuMemcpyHtoD failed\n");
    goto done;
  }

  /* K and V as [batch, seq, kv heads, head_dim]. */
  skv_decode_args args = {
      .q = (const void *)q, .k = (const void *)k, .v = (const void *)v,
      .seqlens = (const int32_t *)seqlens, .out = (void *)out,
      .lse = (float *)lse, .workspace = (void *)ws, .workspace_size = ws_bytes,
      .batch = BATCH, .max_seqlen = SEQLEN,
      .num_q_heads = hq, .num_kv_heads = hkv, .head_dim = d,
      .k_stride_batch = (int64_t)SEQLEN * hkv * d,
      .k_stride_seq = (int64_t)hkv * d, .k_stride_head = d,
      .v_stride_batch = (int64_t)SEQLEN * hkv * d,
      .v_stride_seq = (int64_t)hkv * d, .v_stride_head = d,
  };
  /* The same step over the pages: strides per page, slot and head. */
  skv_paged_decode_args paged_args = {
      .q = (const void *)q, .k_pages = (const void *)k, .v_pages = (const void *)v,
      .k_stride_page = (int64_t)page_size * hkv * d, .k_stride_slot = (int64_t)hkv * d,
      .k_stride_head = d,
      .v_stride_page = (int64_t)page_size * hkv * d, .v_stride_slot = (int64_t)hkv * d,
      .v_stride_head = d,
      .block_table = (const int32_t *)table, .block_table_stride = pages,
      .num_pages = BATCH * pages,
      .seqlens = (const int32_t *)seqlens, .out = (void *)out,
      .lse = (float *)lse, .workspace = (void *)ws, .workspace_size = ws_bytes,
      .batch = BATCH, .max_seqlen = SEQLEN,
      .num_q_heads = hq, .num_kv_heads = hkv, .head_dim = d,
  };
  if (failed(paged ? skv_attention_decode_paged(attention, &paged_args, NULL)
                   : skv_attention_decode(attention, &args, NULL),
             "decode"))
    goto done;
  if (cu.synchronize() || cu.copy_to_host(host, out, q_elems * 2) ||
      cu.copy_to_host(host_lse, lse, (size_t)BATCH * hq * sizeof(float))) {
    fprintf(stderr, "skv_engine: the decode kernels failed\n");
    goto done;
  }
  /* All exponent bits set is inf or NaN, in bf16 and f16 alike. */
  uint16_t exponent_mask = spec.dtype == SKV_DTYPE_BF16 ? 0x7f80u : 0x7c00u;
  size_t bad = 0;
  for (size_t i = 0; i < q_elems; ++i)
    bad += (host[i] & exponent_mask) == exponent_mask;
  for (int i = 0; i < BATCH * hq; ++i)
    bad += !isfinite(host_lse[i]);
  printf("decode %s: batch %d, %d tokens%s, %d split%s: lse[0] = %.4f, %s\n", name, BATCH,
         SEQLEN, paged ? " in pages" : "", splits, splits == 1 ? "" : "s",
         (double)host_lse[0], bad ? "NON-FINITE OUTPUTS" : "outputs finite");
  rc = bad ? 1 : 0;

done:
  if (cu.mem_free) {
    CUdeviceptr buffers[8] = {q, k, v, seqlens, out, lse, ws, table};
    for (int i = 0; i < 8; ++i)
      if (buffers[i])
        cu.mem_free(buffers[i]);
  }
  free(host);
  free(host_lse);
  skv_attention_destroy(attention);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s PACKAGE [SPEC]\n", argv[0]);
    return 1;
  }
  skv_package *package = NULL;
  if (failed(skv_package_open_file(argv[1], &package), "open"))
    return 1;
  list_specs(argv[1], package);

  int rc = 0;
  skv_status status = skv_driver_init();
  if (skv_status_code_of(status) == SKV_CODE_NO_DRIVER) {
    printf("no GPU, decode skipped: %s\n", skv_status_message(status));
    skv_status_free(status);
  } else if (failed(status, "driver")) {
    rc = 1;
  } else if (argc == 3) {
    rc = run_decode(package, argv[2]);
  } else if (skv_package_spec_count(package) > 0) {
    skv_spec_info first;
    rc = failed(skv_package_spec_info(package, 0, &first), "spec")
             ? 1
             : run_decode(package, first.name);
  }
  skv_package_destroy(package);
  return rc;
}
