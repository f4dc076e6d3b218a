/* Merging softmax results by their LSE, shared by the combine kernel (chunks
 * from global memory) and the split kernel's cluster merge (chunks from the
 * cluster's shared memory). */
#include <math.h>

#include "kernels.h"

skv_lse_merge skv_lse_merge_chunk(skv_builder *b, MlirValue valid, MlirValue lse,
                                  MlirValue values) {
  skv_lse_merge r;
  r.m = skv_select(b, valid, skv_mulf(b, lse, skv_const_f32(b, (float)SKV_LOG2E)),
                   skv_const_f32(b, -INFINITY));
  r.sum = skv_select(b, valid, skv_const_f32(b, 1.0f), skv_const_f32(b, 0.0f));
  r.acc = values;
  return r;
}

skv_lse_merge skv_lse_merge_pair(skv_builder *b, skv_lse_merge x, skv_lse_merge y) {
  MlirType f32x8 = skv_type_vector(skv_type_f32(b), 8);
  skv_lse_merge r;
  r.m = skv_maxf(b, x.m, y.m);
  MlirValue base = skv_softmax_safe_max(b, r.m);
  MlirValue wx = skv_exp2(b, skv_subf(b, x.m, base));
  MlirValue wy = skv_exp2(b, skv_subf(b, y.m, base));
  r.sum = skv_fma(b, x.sum, wx, skv_mulf(b, y.sum, wy));
  r.acc = skv_fma(b, x.acc, skv_broadcast(b, wx, f32x8),
                  skv_mulf(b, y.acc, skv_broadcast(b, wy, f32x8)));
  return r;
}

/* The same merge from the lane `offset` away (xor) in the warp. */
static skv_lse_merge shuffle_merge(skv_builder *b, skv_lse_merge x, int offset) {
  MlirType f32x8 = skv_type_vector(skv_type_f32(b), 8);
  skv_lse_merge y;
  y.m = skv_shuffle_xor(b, x.m, offset);
  y.sum = skv_shuffle_xor(b, x.sum, offset);
  MlirValue dims[8];
  for (int i = 0; i < 8; ++i)
    dims[i] = skv_shuffle_xor(b, skv_extract(b, x.acc, i), offset);
  y.acc = skv_from_elements(b, f32x8, 8, dims);
  return skv_lse_merge_pair(b, x, y);
}

skv_lse_merge skv_lse_merge_lanes(skv_builder *b, skv_lse_merge mine, MlirValue lanes) {
  /* The warp shuffles at every offset; past lanes it would mix groups, and
   * the merge is dropped. */
  for (int offset = 1; offset < 32; offset *= 2) {
    skv_lse_merge merged = shuffle_merge(b, mine, offset);
    MlirValue within = skv_cmpi_slt(b, skv_const_index(b, offset), lanes);
    mine.m = skv_select(b, within, merged.m, mine.m);
    mine.sum = skv_select(b, within, merged.sum, mine.sum);
    mine.acc = skv_select(b, within, merged.acc, mine.acc);
  }
  return mine;
}

void skv_lse_merge_write(skv_builder *b, skv_lse_merge merged, MlirValue writer,
                         MlirType dtype, MlirValue out, MlirValue lse_buf,
                         MlirValue row, MlirValue d, int head_dim) {
  MlirValue values, lse;
  skv_softmax_finish(b, skv_softmax_safe_max(b, merged.m), merged.sum, merged.acc,
                     &values, &lse);
  skv_if write;
  skv_if_begin(b, &write, writer);
  skv_vector_store(b, skv_truncf(b, values, skv_type_vector(dtype, 8)), out,
                   skv_addi(b, skv_muli(b, row, skv_const_index(b, head_dim)), d));
  skv_if first;
  skv_if_begin(b, &first, skv_cmpi_eq(b, d, skv_const_index(b, 0)));
  skv_store(b, lse, lse_buf, row);
  skv_if_end(b, &first);
  skv_if_end(b, &write);
}
