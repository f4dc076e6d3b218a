/* The softmax pieces both kernels share: a finite exponent base, the
 * normalised output and LSE of a finished softmax, and their store. */
#include <math.h>

#include "kernels.h"

MlirValue skv_softmax_safe_max(skv_builder *b, MlirValue m) {
  MlirValue neg_inf = skv_const_f32(b, -INFINITY);
  return skv_select(b, skv_cmpf_eq(b, m, neg_inf), skv_const_f32(b, 0.0f), m);
}

void skv_softmax_finish(skv_builder *b, MlirValue base, MlirValue sum,
                        MlirValue acc, MlirValue *out_values,
                        MlirValue *out_lse) {
  MlirType f32x8 = skv_type_vector(skv_type_f32(b), 8);
  MlirValue seen = skv_cmpf_gt(b, sum, skv_const_f32(b, 0.0f));
  /* One reciprocal and eight products, not eight IEEE divisions. */
  MlirValue inv = skv_rcp(b, sum);
  *out_values = skv_select(b, seen, skv_mulf(b, acc, skv_broadcast(b, inv, f32x8)),
                           skv_const_f32_vector(b, 8, 0.0f));
  MlirValue lse2 = skv_addf(b, base, skv_log2(b, sum));
  *out_lse = skv_select(b, seen, skv_mulf(b, lse2, skv_const_f32(b, (float)SKV_LN2)),
                        skv_const_f32(b, -INFINITY));
}

void skv_softmax_store(skv_builder *b, MlirValue values, MlirValue lse,
                       MlirValue out_buf, MlirValue lse_buf, MlirValue row,
                       MlirValue d, int head_dim) {
  skv_vector_store(b, values, out_buf,
                   skv_addi(b, skv_muli(b, row, skv_const_index(b, head_dim)), d));
  skv_if first;
  skv_if_begin(b, &first, skv_cmpi_eq(b, d, skv_const_index(b, 0)));
  skv_store(b, lse, lse_buf, row);
  skv_if_end(b, &first);
}
