/* The split kernel: one CTA per (KV chunk, kv head, batch) computes, for all
 * q heads of the GQA group at once, softmax(q·Kᵀ)·V over its chunk of the
 * sequence with an online softmax in f32.
 *
 * Work layout: a lane group of `lanes_per_token` lanes shares one K/V row,
 * each lane holding 8 elements (one 16-byte load). The CTA's lane groups
 * stride over the chunk, `tokens_per_group` rows per group per step. Every
 * group keeps its own running max, sum and accumulator per q head; at the
 * end the groups are merged through shared memory and the CTA writes either
 * the final output (one chunk) or a partial output and its LSE. */
#include <math.h>

#include "kernels.h"

enum { VEC = 8 }; /* elements per 16-byte load */
enum { MAX_GROUP = SKV_MAX_CARRIED / 3, MAX_TOKENS = 8, MAX_LANE_GROUPS = 32 };

/* The kernel's arguments, in kernel_abi.h order. */
enum {
  ARG_Q, ARG_K, ARG_V, ARG_SEQLENS, ARG_OUT, ARG_LSE, ARG_PART_OUT,
  ARG_PART_LSE, ARG_K_SB, ARG_K_ST, ARG_K_SH, ARG_V_SB, ARG_V_ST, ARG_V_SH,
  ARG_NUM_SPLITS, NUM_ARGS,
  SHARED_STATS = NUM_ARGS, SHARED_ACC, NUM_VALUES
};

typedef struct split_kernel {
  skv_builder *b;
  const skv_spec *spec;
  const skv_kernel_plan *plan;
  MlirValue arg[NUM_VALUES];
  MlirType f32x8;
  /* Where this CTA and lane are. */
  MlirValue chunk, kv_head, batch, tid, group_index, lane;
  MlirValue dim0;   /* first of this lane's 8 elements */
  MlirValue active; /* lane holds part of the row (head dims not a power of 2) */
  /* This CTA's token range [start, end). */
  MlirValue start, end;
  /* Per q head of the group: q scaled by softmax_scale·log2(e), f32. */
  MlirValue q[MAX_GROUP];
} split_kernel;

static MlirValue idx(split_kernel *k, int64_t v) { return skv_const_index(k->b, v); }

static MlirValue arg_index(split_kernel *k, int a) {
  return skv_index_cast(k->b, k->arg[a], skv_type_index(k->b));
}

/* Step 1: the CTA's coordinates and the lane's slice of head_dim. */
static void locate(split_kernel *k) {
  skv_builder *b = k->b;
  k->chunk = skv_block_id(b, 'x');
  k->kv_head = skv_block_id(b, 'y');
  k->batch = skv_block_id(b, 'z');
  k->tid = skv_thread_id(b, 'x');
  MlirValue lanes = idx(k, k->plan->lanes_per_token);
  k->group_index = skv_divui(b, k->tid, lanes);
  k->lane = skv_remui(b, k->tid, lanes);
  k->active = skv_cmpi_slt(b, k->lane, idx(k, k->plan->active_lanes));
  /* Idle lanes read the row's first 8 elements (valid memory) and multiply
   * them by a zero q, so they never need a branch. */
  k->dim0 = skv_select(b, k->active, skv_muli(b, k->lane, idx(k, VEC)), idx(k, 0));
}

/* Step 2: this CTA's chunk of its sequence: ceil(len / splits) tokens. */
static void chunk_bounds(split_kernel *k) {
  skv_builder *b = k->b;
  MlirValue len = skv_load(b, k->arg[ARG_SEQLENS], k->batch);
  len = skv_index_cast(b, skv_maxsi(b, len, skv_const_i32(b, 0)), skv_type_index(b));
  MlirValue splits = arg_index(k, ARG_NUM_SPLITS);
  MlirValue chunk_len = skv_ceildivui(b, len, splits);
  k->start = skv_minsi(b, skv_muli(b, k->chunk, chunk_len), len);
  k->end = skv_minsi(b, skv_addi(b, k->start, chunk_len), len);
}

/* Index of q head g of this CTA's group in [batch, num_q_heads]. */
static MlirValue q_row(split_kernel *k, int g) {
  skv_builder *b = k->b;
  MlirValue head = skv_addi(b, skv_muli(b, k->kv_head, idx(k, k->plan->group)), idx(k, g));
  return skv_addi(b, skv_muli(b, k->batch, idx(k, k->spec->num_q_heads)), head);
}

/* Step 3: load the group's q heads once, scaled into the exp2 domain. */
static void load_q(split_kernel *k) {
  skv_builder *b = k->b;
  MlirType tx8 = skv_type_vector(skv_dtype_type(b, k->spec->dtype), VEC);
  float scale_log2 = k->spec->softmax_scale * (float)SKV_LOG2E;
  MlirValue scale = skv_const_f32_vector(b, VEC, scale_log2);
  MlirValue zero = skv_const_f32_vector(b, VEC, 0.0f);
  for (int g = 0; g < k->plan->group; ++g) {
    MlirValue offset = skv_addi(b, skv_muli(b, q_row(k, g), idx(k, k->spec->head_dim)), k->dim0);
    MlirValue q = skv_extf(b, skv_vector_load(b, tx8, k->arg[ARG_Q], offset), k->f32x8);
    k->q[g] = skv_select(b, k->active, skv_mulf(b, q, scale), zero);
  }
}

/* Element offset of row `token` of this CTA's kv head in a K or V cache. */
static MlirValue kv_offset(split_kernel *k, int stride_batch, MlirValue token) {
  skv_builder *b = k->b;
  MlirValue sb = arg_index(k, stride_batch);
  MlirValue st = arg_index(k, stride_batch + 1);
  MlirValue sh = arg_index(k, stride_batch + 2);
  MlirValue off = skv_muli(b, k->batch, sb);
  off = skv_addi(b, off, skv_muli(b, token, st));
  off = skv_addi(b, off, skv_muli(b, k->kv_head, sh));
  return skv_addi(b, off, k->dim0);
}

/* q·k for one row, summed over the lane group with a butterfly; every lane
 * of the group ends with the full score. */
static MlirValue score(split_kernel *k, MlirValue q, MlirValue krow) {
  skv_builder *b = k->b;
  MlirValue s = skv_reduce_add(b, skv_mulf(b, q, krow));
  for (int offset = k->plan->lanes_per_token / 2; offset >= 1; offset /= 2)
    s = skv_addf(b, s, skv_shuffle_xor(b, s, offset));
  return s;
}

/* exp2 offsets must stay finite while a head has seen no token yet. */
static MlirValue safe_max(skv_builder *b, MlirValue m) {
  MlirValue neg_inf = skv_const_f32(b, -INFINITY);
  return skv_select(b, skv_cmpf_eq(b, m, neg_inf), skv_const_f32(b, 0.0f), m);
}

/* Step 4: stream the chunk's K and V rows through the online softmax.
 * Carried per head g: max m[g], sum l[g], accumulator acc[g] (8 x f32). */
static void stream_chunk(split_kernel *k, MlirValue *m, MlirValue *l, MlirValue *acc) {
  skv_builder *b = k->b;
  const int G = k->plan->group, U = k->plan->tokens_per_group;
  const int groups = k->plan->token_groups;
  MlirType tx8 = skv_type_vector(skv_dtype_type(b, k->spec->dtype), VEC);
  MlirValue neg_inf = skv_const_f32(b, -INFINITY);

  MlirValue init[3 * MAX_GROUP];
  for (int g = 0; g < G; ++g) {
    init[g] = neg_inf;
    init[G + g] = skv_const_f32(b, 0.0f);
    init[2 * G + g] = skv_const_f32_vector(b, VEC, 0.0f);
  }
  skv_for loop;
  skv_for_begin(b, &loop, k->start, k->end, idx(k, (int64_t)groups * U), 3 * G, init);

  /* Issue all of the step's loads before using any. Rows past the chunk
   * re-read its first row and are masked out of the softmax. */
  MlirValue valid[MAX_TOKENS], krow[MAX_TOKENS], vrow[MAX_TOKENS];
  for (int u = 0; u < U; ++u) {
    MlirValue t = skv_addi(b, loop.iv, skv_addi(b, idx(k, (int64_t)u * groups), k->group_index));
    valid[u] = skv_cmpi_slt(b, t, k->end);
    t = skv_select(b, valid[u], t, k->start);
    krow[u] = skv_vector_load(b, tx8, k->arg[ARG_K], kv_offset(k, ARG_K_SB, t));
    vrow[u] = skv_vector_load(b, tx8, k->arg[ARG_V], kv_offset(k, ARG_V_SB, t));
  }
  for (int u = 0; u < U; ++u) {
    krow[u] = skv_extf(b, krow[u], k->f32x8);
    vrow[u] = skv_extf(b, vrow[u], k->f32x8);
  }

  MlirValue next[3 * MAX_GROUP];
  for (int g = 0; g < G; ++g) {
    MlirValue s[MAX_TOKENS];
    MlirValue m_new = loop.carried[g];
    for (int u = 0; u < U; ++u) {
      s[u] = skv_select(b, valid[u], score(k, k->q[g], krow[u]), neg_inf);
      m_new = skv_maxf(b, m_new, s[u]);
    }
    MlirValue base = safe_max(b, m_new);
    MlirValue alpha = skv_exp2(b, skv_subf(b, loop.carried[g], base));
    MlirValue l_new = skv_mulf(b, loop.carried[G + g], alpha);
    MlirValue acc_new = skv_mulf(b, loop.carried[2 * G + g], skv_broadcast(b, alpha, k->f32x8));
    for (int u = 0; u < U; ++u) {
      MlirValue p = skv_exp2(b, skv_subf(b, s[u], base));
      l_new = skv_addf(b, l_new, p);
      acc_new = skv_fma(b, skv_broadcast(b, p, k->f32x8), vrow[u], acc_new);
    }
    next[g] = m_new;
    next[G + g] = l_new;
    next[2 * G + g] = acc_new;
  }
  skv_for_end(b, &loop, next);
  for (int g = 0; g < G; ++g) {
    m[g] = mlirOperationGetResult(loop.op, g);
    l[g] = mlirOperationGetResult(loop.op, G + g);
    acc[g] = mlirOperationGetResult(loop.op, 2 * G + g);
  }
}

/* Step 5: every lane group publishes its (max, sum, accumulator) per head. */
static void publish_groups(split_kernel *k, const MlirValue *m, const MlirValue *l,
                           const MlirValue *acc) {
  skv_builder *b = k->b;
  const int G = k->plan->group, D = k->spec->head_dim;
  MlirValue stats = k->arg[SHARED_STATS], acc_buf = k->arg[SHARED_ACC];
  MlirValue slot0 = skv_muli(b, k->group_index, idx(k, G));
  skv_if leader;
  skv_if_begin(b, &leader, skv_cmpi_eq(b, k->lane, idx(k, 0)));
  for (int g = 0; g < G; ++g) {
    MlirValue slot = skv_addi(b, slot0, idx(k, g));
    skv_store(b, m[g], stats, skv_muli(b, slot, idx(k, 2)));
    skv_store(b, l[g], stats, skv_addi(b, skv_muli(b, slot, idx(k, 2)), idx(k, 1)));
  }
  skv_if_end(b, &leader);
  skv_if holder;
  skv_if_begin(b, &holder, k->active);
  for (int g = 0; g < G; ++g) {
    MlirValue slot = skv_addi(b, slot0, idx(k, g));
    skv_vector_store(b, acc[g], acc_buf, skv_addi(b, skv_muli(b, slot, idx(k, D)), k->dim0));
  }
  skv_if_end(b, &holder);
  skv_barrier(b);
}

/* Step 6: merge the lane groups for element (g, d) of the CTA's output and
 * write it: the final output with one chunk, else the partial one. */
static void merge_and_write(split_kernel *k) {
  skv_builder *b = k->b;
  const int G = k->plan->group, D = k->spec->head_dim;
  MlirValue stats = k->arg[SHARED_STATS], acc_buf = k->arg[SHARED_ACC];
  skv_for loop;
  skv_for_begin(b, &loop, k->tid, idx(k, (int64_t)G * D), idx(k, k->plan->split_threads), 0, NULL);
  MlirValue g = skv_divui(b, loop.iv, idx(k, D));
  MlirValue d = skv_remui(b, loop.iv, idx(k, D));

  MlirValue group_m[MAX_LANE_GROUPS];
  MlirValue m = skv_const_f32(b, -INFINITY);
  for (int i = 0; i < k->plan->token_groups; ++i) {
    MlirValue slot = skv_addi(b, idx(k, (int64_t)i * G), g);
    group_m[i] = skv_load(b, stats, skv_muli(b, slot, idx(k, 2)));
    m = skv_maxf(b, m, group_m[i]);
  }
  MlirValue base = safe_max(b, m);
  MlirValue sum = skv_const_f32(b, 0.0f), acc = skv_const_f32(b, 0.0f);
  for (int i = 0; i < k->plan->token_groups; ++i) {
    MlirValue slot = skv_addi(b, idx(k, (int64_t)i * G), g);
    MlirValue w = skv_exp2(b, skv_subf(b, group_m[i], base));
    MlirValue l_i = skv_load(b, stats, skv_addi(b, skv_muli(b, slot, idx(k, 2)), idx(k, 1)));
    MlirValue a_i = skv_load(b, acc_buf, skv_addi(b, skv_muli(b, slot, idx(k, D)), d));
    sum = skv_fma(b, l_i, w, sum);
    acc = skv_fma(b, a_i, w, acc);
  }
  /* No token in the chunk (or sequence): output 0 and LSE -inf. */
  MlirValue seen = skv_cmpf_gt(b, sum, skv_const_f32(b, 0.0f));
  MlirValue out = skv_select(b, seen, skv_divf(b, acc, sum), skv_const_f32(b, 0.0f));
  MlirValue lse2 = skv_addf(b, base, skv_log2(b, sum));
  MlirValue lse = skv_select(b, seen, skv_mulf(b, lse2, skv_const_f32(b, (float)SKV_LN2)),
                             skv_const_f32(b, -INFINITY));

  MlirValue row = skv_addi(b, skv_muli(b, k->batch, idx(k, k->spec->num_q_heads)),
                           skv_addi(b, skv_muli(b, k->kv_head, idx(k, G)), g));
  MlirValue first = skv_cmpi_eq(b, d, idx(k, 0));
  MlirValue splits = arg_index(k, ARG_NUM_SPLITS);
  MlirValue single = skv_cmpi_eq(b, splits, idx(k, 1));

  skv_if final;
  skv_if_begin(b, &final, single);
  skv_store(b, skv_truncf(b, out, skv_dtype_type(b, k->spec->dtype)), k->arg[ARG_OUT],
            skv_addi(b, skv_muli(b, row, idx(k, D)), d));
  skv_if lse_final;
  skv_if_begin(b, &lse_final, first);
  skv_store(b, lse, k->arg[ARG_LSE], row);
  skv_if_end(b, &lse_final);
  skv_if_end(b, &final);

  skv_if partial;
  skv_if_begin(b, &partial, skv_cmpi_slt(b, idx(k, 1), splits));
  MlirValue part_row = skv_addi(b, skv_muli(b, row, splits), k->chunk);
  skv_store(b, out, k->arg[ARG_PART_OUT], skv_addi(b, skv_muli(b, part_row, idx(k, D)), d));
  skv_if lse_partial;
  skv_if_begin(b, &lse_partial, first);
  skv_store(b, lse, k->arg[ARG_PART_LSE], part_row);
  skv_if_end(b, &lse_partial);
  skv_if_end(b, &partial);

  skv_for_end(b, &loop, NULL);
}

void skv_codegen_split_kernel(skv_builder *b, MlirBlock module_body,
                              const skv_spec *spec, const skv_kernel_plan *plan) {
  MlirType t = skv_dtype_type(b, spec->dtype);
  MlirType f32 = skv_type_f32(b), i32 = skv_type_i32(b), i64 = skv_type_i64(b);
  MlirType t_buf = skv_type_global_buffer(b, t);
  MlirType f32_buf = skv_type_global_buffer(b, f32);
  skv_kernel_arg args[NUM_ARGS] = {
      [ARG_Q] = {t_buf, 1},       [ARG_K] = {t_buf, 1},
      [ARG_V] = {t_buf, 1},       [ARG_SEQLENS] = {skv_type_global_buffer(b, i32), 1},
      [ARG_OUT] = {t_buf, 0},     [ARG_LSE] = {f32_buf, 0},
      [ARG_PART_OUT] = {f32_buf, 0}, [ARG_PART_LSE] = {f32_buf, 0},
      [ARG_K_SB] = {i64, 0}, [ARG_K_ST] = {i64, 0}, [ARG_K_SH] = {i64, 0},
      [ARG_V_SB] = {i64, 0}, [ARG_V_ST] = {i64, 0}, [ARG_V_SH] = {i64, 0},
      [ARG_NUM_SPLITS] = {i32, 0},
  };
  int slots = plan->token_groups * plan->group;
  MlirType shared[2] = {
      skv_type_shared_buffer(b, f32, (int64_t)slots * 2),
      skv_type_shared_buffer(b, f32, (int64_t)slots * spec->head_dim),
  };

  split_kernel k = {.b = b, .spec = spec, .plan = plan};
  k.f32x8 = skv_type_vector(f32, VEC);
  skv_kernel_begin(b, module_body, plan->split_entry, NUM_ARGS, args, 2, shared,
                   plan->split_threads, k.arg);

  MlirValue m[MAX_GROUP], l[MAX_GROUP], acc[MAX_GROUP];
  locate(&k);
  chunk_bounds(&k);
  load_q(&k);
  stream_chunk(&k, m, l, acc);
  publish_groups(&k, m, l, acc);
  merge_and_write(&k);
  skv_kernel_end(b);
}
