/* The combine kernel: merges the chunks' partial outputs by their LSE,
 *   lse = log(sum_c exp(lse_c)),  out = sum_c exp(lse_c - lse) * out_c,
 * with `lanes` lanes (a launch argument, kernel_abi.h) per slice of 8 dims
 * and as many CTAs per (q head, batch) row as the slices take. Lane `lane`
 * of a slice takes every lanes-th chunk from `lane` on and keeps a running
 * (max, sum, weighted values), SKV_COMBINE_UNROLL chunks per step with all
 * their loads issued first (the partials come from L2, and one chunk at a
 * time would pay its latency per chunk). The lanes meet by shuffles; lane
 * 0 writes.
 *
 * With programmatic dependent launch (sm_90+) its CTAs are resident before
 * the split kernel ends and start the moment its partials are visible. */
#include <math.h>

#include "kernels.h"
#include "splitkv/kernel_abi.h"

/* The kernel's arguments: kernel_abi.h's list. */
enum { SKV_COMBINE_KERNEL_ARGS(SKV_ABI_INDEX) NUM_ARGS };

/* A running LSE merge: the largest exponent m (exp2 domain), the sum of
 * exp2(lse_c - m) and the values weighted alike. */
typedef struct lse_merge {
  MlirValue m, sum, acc;
} lse_merge;

/* x and y's terms together (either may be empty: m -inf, sum 0). */
static lse_merge merge_pair(skv_builder *b, lse_merge x, lse_merge y) {
  MlirType f32x8 = skv_type_vector(skv_type_f32(b), 8);
  lse_merge r;
  r.m = skv_maxnumf(b, x.m, y.m);
  MlirValue base = skv_softmax_safe_max(b, r.m);
  MlirValue wx = skv_exp2_ftz(b, skv_subf(b, x.m, base));
  MlirValue wy = skv_exp2_ftz(b, skv_subf(b, y.m, base));
  r.sum = skv_fma(b, x.sum, wx, skv_mulf(b, y.sum, wy));
  r.acc = skv_fma(b, x.acc, skv_broadcast(b, wx, f32x8),
                  skv_mulf(b, y.acc, skv_broadcast(b, wy, f32x8)));
  return r;
}

/* The same merge from the lane `offset` away (xor) in the warp. */
static lse_merge shuffle_merge(skv_builder *b, lse_merge x, int offset) {
  MlirType f32x8 = skv_type_vector(skv_type_f32(b), 8);
  lse_merge y;
  y.m = skv_shuffle_xor(b, x.m, offset);
  y.sum = skv_shuffle_xor(b, x.sum, offset);
  MlirValue dims[8];
  for (int i = 0; i < 8; ++i)
    dims[i] = skv_shuffle_xor(b, skv_extract(b, x.acc, i), offset);
  y.acc = skv_from_elements(b, f32x8, 8, dims);
  return merge_pair(b, x, y);
}

void skv_codegen_combine_kernel(skv_builder *b, MlirBlock module_body, const skv_spec *spec,
                                const skv_kernel_plan *plan, const skv_kernel_desc *kernel) {
  const int D = spec->head_dim;
  MlirType f32 = skv_type_f32(b), index = skv_type_index(b);
  MlirType f32x8 = skv_type_vector(f32, 8);
  MlirType t = skv_dtype_type(b, spec->dtype);
  static const skv_abi_arg args[NUM_ARGS] = {SKV_COMBINE_KERNEL_ARGS(SKV_ABI_ARG)};
  MlirValue arg[NUM_ARGS];
  skv_kernel_begin(b, module_body, kernel->entry, spec->dtype, NUM_ARGS, args, 0, NULL,
                   (int)kernel->threads, plan->combine_max_regs, arg);

  /* Step 1: where: row (batch, query token, q head), dims d .. d+7, chunk
   * lane. A CTA holds threads / lanes slices, a row head_dim / 8 of them;
   * grid y is batch * q_len (kernel_abi.h). */
  MlirValue lanes = skv_index_cast(b, arg[ARG_lanes], index);
  MlirValue threads = skv_const_index(b, kernel->threads);
  MlirValue slices_per_cta = skv_divui(b, threads, lanes);
  MlirValue row_ctas = skv_divui(b, skv_const_index(b, D / 8), slices_per_cta);
  MlirValue head = skv_divui(b, skv_block_id(b, 'x'), row_ctas);
  MlirValue part = skv_remui(b, skv_block_id(b, 'x'), row_ctas);
  MlirValue seq_token = skv_block_id(b, 'y');
  MlirValue batch = seq_token, batch_size = skv_grid_dim(b, 'y'), seq_row = head;
  if (spec->max_query_len > 1) {
    MlirValue q_len = skv_index_cast(b, arg[ARG_q_len], index);
    batch = skv_divui(b, seq_token, q_len);
    batch_size = skv_divui(b, batch_size, q_len);
    seq_row = skv_addi(b, skv_muli(b, skv_remui(b, seq_token, q_len),
                                   skv_const_index(b, spec->num_q_heads)),
                       head);
  }
  MlirValue tid = skv_thread_id(b, 'x');
  MlirValue lane = skv_remui(b, tid, lanes);
  MlirValue slice = skv_addi(b, skv_muli(b, part, slices_per_cta), skv_divui(b, tid, lanes));
  MlirValue d = skv_muli(b, slice, skv_const_index(b, 8));
  MlirValue row = skv_addi(b, skv_muli(b, seq_token, skv_const_index(b, spec->num_q_heads)),
                           head);
  /* No memory is touched before the split kernel's partials are complete.
   * The next kernel may launch at once (its CTAs take slots as split CTAs
   * leave and prefetch into L2: short calls gain), or after the wait (long
   * calls, whose end the early one slows by ~1%: docs/perf-log.md §39). */
  if (plan->grid_dependency) {
    MlirValue late = skv_cmpi_eq(b, arg[ARG_late], skv_const_i32(b, 1));
    skv_if early_trigger;
    skv_if_begin(b, &early_trigger, skv_cmpi_eq(b, arg[ARG_late], skv_const_i32(b, 0)));
    skv_grid_launch_dependents(b);
    skv_if_end(b, &early_trigger);
    skv_grid_wait(b);
    skv_if late_trigger;
    skv_if_begin(b, &late_trigger, late);
    skv_grid_launch_dependents(b);
    skv_if_end(b, &late_trigger);
  }
  /* The row's chunks: uniform, num_splits of them from row * num_splits;
   * balanced (kernel_abi.h), chunk_table's count from its first row of
   * the sequence's row's (token * num_q_heads + head) * (num_splits +
   * batch) + first, none for an empty
   * sequence (whose table entry is not written) and nothing to do for a
   * sequence one CTA held whole. */
  MlirValue splits = skv_index_cast(b, arg[ARG_num_splits], index);
  MlirValue zero = skv_const_index(b, 0), one = skv_const_index(b, 1);
  MlirType both[2] = {index, index};
  skv_if partition;
  skv_if_values_begin(b, &partition, skv_cmpi_eq(b, arg[ARG_balanced], skv_const_i32(b, 1)),
                      2, both);
  MlirValue entry = skv_muli(b, batch, skv_const_index(b, 2));
  MlirValue table_first = skv_index_cast(b, skv_load(b, arg[ARG_chunk_table], entry), index);
  MlirValue table_count =
      skv_index_cast(b, skv_load(b, arg[ARG_chunk_table], skv_addi(b, entry, one)), index);
  MlirValue has_tokens = skv_cmpi_slt(b, skv_const_i32(b, 0), skv_load(b, arg[ARG_seqlens], batch));
  MlirValue rows = skv_addi(b, splits, batch_size);
  MlirValue balanced[2] = {skv_addi(b, skv_muli(b, seq_row, rows), table_first),
                           skv_select(b, has_tokens, table_count, zero)};
  skv_if_values_else(b, &partition, balanced);
  MlirValue uniform[2] = {skv_muli(b, row, splits), splits};
  skv_if_values_end(b, &partition, uniform);
  MlirValue first_part = mlirOperationGetResult(partition.op, 0);
  MlirValue count = mlirOperationGetResult(partition.op, 1);
  skv_if merges;
  skv_if_begin(b, &merges, skv_cmpi_eq(b, skv_cmpi_eq(b, count, one), skv_cmpi_eq(b, zero, one)));

  /* Step 2: this lane's chunks, SKV_COMBINE_UNROLL at a time. Chunks past the
   * last re-read the row's chunk 0 with weight zero. */
  MlirValue log2e = skv_const_f32(b, (float)SKV_LOG2E);
  MlirValue neg_inf = skv_const_f32(b, -INFINITY);
  MlirValue init[3] = {neg_inf, skv_const_f32(b, 0.0f), skv_const_f32_vector(b, 8, 0.0f)};
  skv_for chunks;
  skv_for_begin(b, &chunks, lane, count,
                skv_muli(b, lanes, skv_const_index(b, SKV_COMBINE_UNROLL)), 3, init);
  MlirValue lse_c[SKV_COMBINE_UNROLL], out_c[SKV_COMBINE_UNROLL];
  lse_merge run = {chunks.carried[0], chunks.carried[1], chunks.carried[2]};
  MlirValue m = run.m;
  for (int u = 0; u < SKV_COMBINE_UNROLL; ++u) {
    MlirValue c = skv_addi(b, chunks.iv, skv_muli(b, lanes, skv_const_index(b, u)));
    MlirValue valid = skv_cmpi_slt(b, c, count);
    MlirValue chunk = skv_addi(b, first_part, skv_select(b, valid, c, skv_const_index(b, 0)));
    lse_c[u] = skv_select(b, valid, skv_mulf(b, skv_load(b, arg[ARG_part_lse], chunk), log2e),
                          neg_inf);
    out_c[u] = skv_vector_load(b, f32x8, arg[ARG_part_out],
                               skv_addi(b, skv_muli(b, chunk, skv_const_index(b, D)), d));
    m = skv_maxnumf(b, m, lse_c[u]);
  }
  MlirValue base = skv_softmax_safe_max(b, m);
  MlirValue alpha = skv_exp2_ftz(b, skv_subf(b, run.m, base));
  MlirValue sum = skv_mulf(b, run.sum, alpha);
  MlirValue acc = skv_mulf(b, run.acc, skv_broadcast(b, alpha, f32x8));
  for (int u = 0; u < SKV_COMBINE_UNROLL; ++u) {
    MlirValue w = skv_exp2_ftz(b, skv_subf(b, lse_c[u], base));
    sum = skv_addf(b, sum, w);
    acc = skv_fma(b, out_c[u], skv_broadcast(b, w, f32x8), acc);
  }
  MlirValue next[3] = {m, sum, acc};
  skv_for_end(b, &chunks, next);
  lse_merge mine = {mlirOperationGetResult(chunks.op, 0),
                    mlirOperationGetResult(chunks.op, 1),
                    mlirOperationGetResult(chunks.op, 2)};

  /* Step 3: the slice's lanes meet: a butterfly over offsets below lanes
   * (the warp shuffles at every offset; past lanes it would mix slices, and
   * the merge is dropped). */
  for (int offset = 1; offset < 32; offset *= 2) {
    lse_merge merged = shuffle_merge(b, mine, offset);
    MlirValue within = skv_cmpi_slt(b, skv_const_index(b, offset), lanes);
    mine.m = skv_select(b, within, merged.m, mine.m);
    mine.sum = skv_select(b, within, merged.sum, mine.sum);
    mine.acc = skv_select(b, within, merged.acc, mine.acc);
  }

  /* Step 4: lane 0 writes the 8 dims, and the row's LSE once. */
  MlirValue values, lse;
  skv_softmax_finish(b, skv_softmax_safe_max(b, mine.m), mine.sum, mine.acc, &values,
                     &lse);
  skv_if writer;
  skv_if_begin(b, &writer, skv_cmpi_eq(b, lane, skv_const_index(b, 0)));
  skv_softmax_store(b, skv_truncf(b, values, skv_type_vector(t, 8)), lse, arg[ARG_out],
                    arg[ARG_lse], row, d, D);
  skv_if_end(b, &writer);
  skv_if_end(b, &merges);
  skv_kernel_end(b);
}
