/* Valid package records for tests that build packages by hand (the package
 * unit test, the fuzzer's seed writer): a spec's record of the given shape
 * and its kernel set "<name>_split" (128 threads), "<name>_split_wide" (256)
 * and "<name>_combine" (one warp: valid for any head_dim). */
#ifndef SPLITKV_TEST_UNIT_PKG_RECORD_H
#define SPLITKV_TEST_UNIT_PKG_RECORD_H

#include <stdio.h>
#include <string.h>

#include "splitkv/package_format.h"

static inline skv_pkg_spec skv_test_pkg_record(const char *name, int head_dim, int q_heads,
                                               int kv_heads, skv_dtype dtype, int splits) {
  skv_pkg_spec r;
  memset(&r, 0, sizeof(r));
  snprintf(r.name, sizeof(r.name), "%s", name);
  r.head_dim = head_dim;
  r.num_q_heads = q_heads;
  r.num_kv_heads = kv_heads;
  r.dtype = dtype;
  r.kv_layout = SKV_KV_CONTIGUOUS;
  r.splits = splits;
  r.softmax_scale = 0.125f;
  r.max_query_len = 1;
  return r;
}

#define SKV_TEST_KERNELS 4

static inline void skv_test_pkg_kernels(const char *name,
                                        skv_kernel_desc out[SKV_TEST_KERNELS]) {
  static const struct {
    skv_kernel_role role;
    uint32_t threads, tokens_per_step;
    const char *suffix;
  } set[SKV_TEST_KERNELS] = {{SKV_KERNEL_SPLIT, 128, 64, "split"},
                             {SKV_KERNEL_SPLIT, 256, 128, "split_wide"},
                             {SKV_KERNEL_COMBINE, 32, 0, "combine"},
                             {SKV_KERNEL_BALANCED, 128, 64, "split_balanced"}};
  for (int k = 0; k < SKV_TEST_KERNELS; ++k) {
    memset(&out[k], 0, sizeof(out[k]));
    out[k].role = set[k].role;
    out[k].threads = set[k].threads;
    out[k].tokens_per_step = set[k].tokens_per_step;
    snprintf(out[k].entry, sizeof(out[k].entry), "%s_%s", name, set[k].suffix);
  }
}

#endif /* SPLITKV_TEST_UNIT_PKG_RECORD_H */
