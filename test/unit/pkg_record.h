/* A valid package manifest record for tests that build packages by hand
 * (the package unit test, the fuzzer's seed writer): the given shape, fixed
 * launch fields, kernel names "<name>_split" and "<name>_combine". */
#ifndef SPLITKV_TEST_UNIT_PKG_RECORD_H
#define SPLITKV_TEST_UNIT_PKG_RECORD_H

#include <stdio.h>
#include <string.h>

#include "splitkv/package_format.h"

static inline skv_pkg_spec skv_test_pkg_record(const char *name, uint32_t head_dim,
                                               uint32_t q_heads, uint32_t kv_heads,
                                               skv_dtype dtype, uint32_t splits) {
  skv_pkg_spec r;
  memset(&r, 0, sizeof(r));
  snprintf(r.name, sizeof(r.name), "%s", name);
  r.head_dim = head_dim;
  r.num_q_heads = q_heads;
  r.num_kv_heads = kv_heads;
  r.dtype = dtype;
  r.splits = splits;
  r.softmax_scale = 0.125f;
  snprintf(r.split_entry, sizeof(r.split_entry), "%s_split", name);
  snprintf(r.combine_entry, sizeof(r.combine_entry), "%s_combine", name);
  r.split_threads = 128;
  r.split_smem_bytes = 4096;
  r.combine_threads = 32; /* one warp: valid for any head_dim */
  r.tokens_per_step = 16;
  return r;
}

#endif /* SPLITKV_TEST_UNIT_PKG_RECORD_H */
