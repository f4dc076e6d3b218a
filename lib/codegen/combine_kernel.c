/* The combine kernel: one CTA per (q head, batch), one thread per element of
 * head_dim, merges the chunks' partial outputs by their LSE:
 *   lse = max_c lse_c + log(sum_c exp(lse_c - max_c lse_c))
 *   out = sum_c exp(lse_c - lse) * out_c */
#include <math.h>

#include "kernels.h"

enum { ARG_PART_OUT, ARG_PART_LSE, ARG_OUT, ARG_LSE, ARG_NUM_SPLITS, NUM_ARGS };

void skv_codegen_combine_kernel(skv_builder *b, MlirBlock module_body,
                                const skv_spec *spec,
                                const skv_kernel_plan *plan) {
  MlirType f32 = skv_type_f32(b), index = skv_type_index(b);
  MlirType f32_buf = skv_type_global_buffer(b, f32);
  skv_kernel_arg args[NUM_ARGS] = {
      [ARG_PART_OUT] = {f32_buf, 1},
      [ARG_PART_LSE] = {f32_buf, 1},
      [ARG_OUT] = {skv_type_global_buffer(b, skv_dtype_type(b, spec->dtype)), 0},
      [ARG_LSE] = {f32_buf, 0},
      [ARG_NUM_SPLITS] = {skv_type_i32(b), 0},
  };
  MlirValue arg[NUM_ARGS];
  skv_kernel_begin(b, module_body, plan->combine_entry, NUM_ARGS, args, 0, NULL,
                   plan->combine_threads, arg);

  /* Where: row (batch, q head) and element d. */
  MlirValue head = skv_block_id(b, 'x'), batch = skv_block_id(b, 'y');
  MlirValue d = skv_thread_id(b, 'x');
  MlirValue row = skv_addi(b, skv_muli(b, batch, skv_const_index(b, spec->num_q_heads)), head);
  MlirValue splits = skv_index_cast(b, arg[ARG_NUM_SPLITS], index);
  MlirValue first_chunk = skv_muli(b, row, splits);
  MlirValue zero = skv_const_index(b, 0), one = skv_const_index(b, 1);
  MlirValue dim = skv_const_index(b, spec->head_dim);

  /* The largest chunk LSE. */
  MlirValue neg_inf = skv_const_f32(b, -INFINITY);
  skv_for max_loop;
  skv_for_begin(b, &max_loop, zero, splits, one, 1, &neg_inf);
  MlirValue lse_c = skv_load(b, arg[ARG_PART_LSE], skv_addi(b, first_chunk, max_loop.iv));
  MlirValue max_next = skv_maxf(b, max_loop.carried[0], lse_c);
  skv_for_end(b, &max_loop, &max_next);
  MlirValue max = mlirOperationGetResult(max_loop.op, 0);
  MlirValue base = skv_select(b, skv_cmpf_eq(b, max, neg_inf), skv_const_f32(b, 0.0f), max);

  /* Weighted sum of the chunks' outputs, weights exp(lse_c - max). */
  MlirValue init[2] = {skv_const_f32(b, 0.0f), skv_const_f32(b, 0.0f)};
  skv_for sum_loop;
  skv_for_begin(b, &sum_loop, zero, splits, one, 2, init);
  MlirValue chunk = skv_addi(b, first_chunk, sum_loop.iv);
  MlirValue lse_i = skv_load(b, arg[ARG_PART_LSE], chunk);
  MlirValue w = skv_exp2(b, skv_mulf(b, skv_subf(b, lse_i, base),
                                     skv_const_f32(b, (float)SKV_LOG2E)));
  MlirValue out_i = skv_load(b, arg[ARG_PART_OUT], skv_addi(b, skv_muli(b, chunk, dim), d));
  MlirValue next[2] = {skv_addf(b, sum_loop.carried[0], w),
                       skv_fma(b, w, out_i, sum_loop.carried[1])};
  skv_for_end(b, &sum_loop, next);
  MlirValue sum = mlirOperationGetResult(sum_loop.op, 0);
  MlirValue acc = mlirOperationGetResult(sum_loop.op, 1);

  /* A sequence without tokens has every chunk at -inf: out 0, lse -inf. */
  MlirValue seen = skv_cmpf_gt(b, sum, skv_const_f32(b, 0.0f));
  MlirValue out = skv_select(b, seen, skv_divf(b, acc, sum), skv_const_f32(b, 0.0f));
  MlirValue log_sum = skv_mulf(b, skv_log2(b, sum), skv_const_f32(b, (float)SKV_LN2));
  MlirValue lse = skv_select(b, seen, skv_addf(b, base, log_sum), neg_inf);

  skv_store(b, skv_truncf(b, out, skv_dtype_type(b, spec->dtype)), arg[ARG_OUT],
            skv_addi(b, skv_muli(b, row, dim), d));
  skv_if first;
  skv_if_begin(b, &first, skv_cmpi_eq(b, d, zero));
  skv_store(b, lse, arg[ARG_LSE], row);
  skv_if_end(b, &first);
  skv_kernel_end(b);
}
