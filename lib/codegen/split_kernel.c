/* The split kernel: one CTA per (KV chunk, kv head, batch) computes, for all
 * q heads of the GQA group at once, softmax(q·Kᵀ)·V over its chunk of the
 * sequence, on tensor cores, with an online softmax in f32.
 *
 * Each token stream takes its own `warp_tokens` consecutive tokens per loop
 * step: one warp, or (dim_split 2 or 4: head_dim 144 to 256, or 512) two or
 * four warps that each hold their share of the dims of Q, K, V and O, so
 * that the next step's K and V fit in registers beside the accumulators.
 * Their shares of S = Q·Kᵀ meet in shared memory, and all do the softmax on
 * the sum.
 * The group's q heads are the M rows of an m16n8k16 mma (rows past the group
 * are zero), so per step a warp does S = Q·Kᵀ (an n8 tile per 8 tokens),
 * the online softmax on S's accumulator fragment, and O += P·V with P taken
 * straight from S's registers.
 *
 * K and V never pass through shared memory. Lane (r, c) = (lane / 4,
 * lane % 4) loads 16 bytes, dims 32·blk + 8c .. +7 of token r, which is
 * already an mma fragment up to a permutation of the dims:
 *   - for Q·Kᵀ the contraction runs over dims in any order, so Q is loaded
 *     with the same pattern and both agree;
 *   - for P·V each 4-byte register of those loads is one 8x8 matrix of
 *     (token, dim) pairs; movmatrix.trans turns it into the B fragment, and
 *     the output fragment of lane (r, c) then holds dims 32·blk + 8c .. +7
 *     of head r again: a 16-byte store.
 * The next step's rows load while the current step computes (prefetch);
 * on sm_90 the first step's lines are prefetched into L2 before the wait
 * for the previous kernel, while it drains.
 * At the end the streams' (max, sum, accumulator) meet in shared memory and
 * the CTA writes the final output (one chunk) or a partial output and LSE,
 * which the combine kernel merges. */
#include <math.h>
#include <string.h>

#include "kernels.h"

enum { MAX_BLOCKS = 8 };     /* head_dim / 32 */
enum { MAX_NTILES = 4 };     /* warp_tokens / 8 */
enum { MAX_OUT_TILES = 32 }; /* head_dim / 8 */

/* The kernel's arguments (kernel_abi.h's lists: a paged spec's kernels
 * take the paged ones too), then its shared buffers. */
enum {
  SKV_SPLIT_KERNEL_ARGS(SKV_ABI_INDEX) NUM_CONTIGUOUS_ARGS,
  ARG_paged_first = NUM_CONTIGUOUS_ARGS - 1,
  SKV_SPLIT_PAGED_ARGS(SKV_ABI_INDEX) NUM_PAGED_ARGS,
  SHARED_STATS = NUM_PAGED_ARGS, SHARED_ACC, SHARED_SCORES, SHARED_RANGE, NUM_VALUES
};

/* The balanced kernel's SHARED_RANGE (i32): the sequence being worked on
 * and the weight before it, the range length T and the batch's total
 * weight. */
enum { RANGE_SEQUENCE, RANGE_BEFORE, RANGE_SPAN, RANGE_TOTAL, RANGE_SLOTS };

typedef struct split_kernel {
  skv_builder *b;
  const skv_spec *spec;
  const skv_kernel_plan *plan;
  MlirValue arg[NUM_VALUES];
  int blocks; /* the 32-dim blocks of Q, K, V and O this warp holds:
                 head_dim / dim_split / 32, rounded up */
  /* A warp's share of the dims that is not a whole number of blocks
   * (head_dim 80: 2.5 blocks): the lanes c < tail_lanes hold the last
   * block's dims (0: every block is whole). The others load their row's
   * dims of lane 0 again (block_offset: valid memory, same lines), their
   * Q is zero so they add nothing to S, and their share of the output is
   * not stored (tail_valid). */
  int tail_lanes;
  MlirValue tail_valid;
  int halves; /* row halves of the mma that hold heads: 1 or 2 */
  MlirType i32, f32, i32x4, f32x8, tx8;
  /* The accumulator fragment a lane keeps per output tile: rows r and r + 8
   * (4 floats), or row r alone (2) when the group fits in 8 rows: the other
   * half is zero and carrying it would cost 2 registers per tile. */
  MlirType acc;
  int acc_width;
  /* Where this CTA and lane are; batch is the sequence of the segment
   * being worked on (index). */
  MlirValue chunk, kv_head, batch, tid, warp, lane, row, col;
  /* The CTA's head tile of its kv head's rows (kernel_abi.h: tile_heads
   * rows from tile * tile_heads on; head_in_group says which are rows of
   * the call). */
  MlirValue tile;
  /* Several query tokens (max_query_len > 1): the call's q_len (i32); each
   * row half's keys end before
   * row_end and (a sliding window) start after row_before: causal among
   * the new tokens. With one token, row_end is the chunk's end. */
  int multi;
  MlirValue q_len;
  MlirValue row_end[2], row_before[2];
  /* The partition (kernel_abi.h): 1 for the balanced kernel, and then
   * this CTA's range of the batch's weight [lo, hi), the range length T
   * (i32), and the length of the sequence being worked on (i32). */
  int balanced;
  MlirValue lo, hi, span, len, b_tok;
  /* This kernel's launch (narrow or wide): token streams and threads per
   * CTA. */
  int streams, threads;
  /* The warp's token stream (warps of one stream share its tokens), the
   * first head dim of its share of the dims, and (dim_split 2 or 4) its
   * place in the stream (0 to dim_split - 1) and the stream's named
   * barrier. */
  MlirValue stream, dim0, half, pair_barrier;
  /* This CTA's tokens: blocks from start on, every `stride` tokens, each
   * ending at end (a single block) or all below end (the sequence's end).
   * Token indices are i32 (seqlens are): half the registers of index
   * values, live through the loop; offsets into K and V stay 64-bit. A
   * step past the end adds at most 2^16 tokens (256 chunks of a wide CTA
   * step), and a sequence any GPU's memory holds is far below 2^31 - 2^16. */
  MlirValue start, end, stride;
  /* A paged cache: page_size (0 for a contiguous one), and where this
   * sequence's page ids start in the table (i32). */
  int page_size;
  MlirValue page_row;
  MlirValue row_token, col_token; /* row and col as i32 */
  /* Q fragments: [row half][32-dim block][register], i32 pairs. */
  MlirValue q[2][MAX_BLOCKS][4];
} split_kernel;

/* What one warp carries from step to step. */
typedef struct softmax_state {
  MlirValue m[2];                 /* running max per row half (exp2 domain) */
  MlirValue l[2];                 /* this lane's share of the running sum */
  MlirValue o[MAX_OUT_TILES];     /* accumulator fragments (acc type) */
} softmax_state;

static MlirValue idx(split_kernel *k, int64_t v) { return skv_const_index(k->b, v); }
static MlirValue tok(split_kernel *k, int32_t v) { return skv_const_i32(k->b, v); }
static MlirValue to_tok(split_kernel *k, MlirValue v) {
  return skv_index_cast(k->b, v, k->i32);
}

/* Not x (i1). */
static MlirValue not_(split_kernel *k, MlirValue x) {
  return skv_cmpi_eq(k->b, x, skv_cmpi_eq(k->b, idx(k, 0), idx(k, 1)));
}

static MlirValue arg_index(split_kernel *k, int a) {
  return skv_index_cast(k->b, k->arg[a], skv_type_index(k->b));
}

/* The four i32 registers of a 16-byte vector of 8 dtype elements. */
static void regs_of(split_kernel *k, MlirValue vector, MlirValue *out_regs) {
  MlirValue v = skv_vector_bitcast(k->b, vector, k->i32x4);
  for (int i = 0; i < 4; ++i)
    out_regs[i] = skv_extract(k->b, v, i);
}

/* Is block blk the tail (k->tail_lanes)? */
static int is_tail(const split_kernel *k, int blk) {
  return k->tail_lanes && blk == k->blocks - 1;
}

/* Element offset of this lane's dims of block blk from its dims of block
 * 0: 32·blk, and for a tail lane of the tail block lane 0's dims. The
 * shift is derived again from the thread index at each use (an opaque
 * copy the compiler cannot hoist): held through the streaming loop it
 * cost head_dim 240 at 8/1 an 8-byte spill on sm_80. */
static MlirValue block_offset(split_kernel *k, int blk) {
  MlirValue off = skv_const_index(k->b, 32 * blk);
  if (!is_tail(k, blk))
    return off;
  skv_builder *b = k->b;
  MlirValue col = skv_remui(b, skv_opaque_index(b, skv_thread_id(b, 'x')), idx(k, 4));
  MlirValue valid = skv_cmpi_slt(b, col, idx(k, k->tail_lanes));
  MlirValue shift = skv_select(b, valid, idx(k, 0),
                               skv_subi(b, idx(k, 0), skv_muli(b, col, idx(k, 8))));
  return skv_addi(b, off, shift);
}

/* The lane's place in the fragments and streams, from k->tid. */
static void place_lane(split_kernel *k) {
  skv_builder *b = k->b;
  k->warp = skv_divui(b, k->tid, idx(k, 32));
  k->lane = skv_remui(b, k->tid, idx(k, 32));
  k->row = skv_divui(b, k->lane, idx(k, 4));
  k->col = skv_remui(b, k->lane, idx(k, 4));
  k->row_token = to_tok(k, k->row);
  k->col_token = to_tok(k, k->col);
  MlirValue split = idx(k, k->plan->dim_split);
  k->stream = skv_divui(b, k->warp, split);
  k->half = skv_remui(b, k->warp, split);
  k->dim0 = skv_muli(b, k->half, idx(k, k->spec->head_dim / k->plan->dim_split));
  if (k->tail_lanes) {
    k->tail_valid = skv_cmpi_slt(b, k->col, idx(k, k->tail_lanes));
  }
  /* Barrier 0 is the CTA's (gpu.barrier). */
  k->pair_barrier = to_tok(k, skv_addi(b, k->stream, idx(k, 1)));
}

/* Several query tokens: the call's rows per kv head, q_len * G (index). */
static MlirValue call_rows(split_kernel *k) {
  return skv_muli(k->b, skv_index_cast(k->b, k->q_len, skv_type_index(k->b)),
                  idx(k, k->plan->group));
}

/* The CTA's kv head and head tile, from grid y (kernel_abi.h): with
 * several query tokens, the call's q_len * G rows give the tiles. */
static void place_head(split_kernel *k, MlirValue y) {
  skv_builder *b = k->b;
  if (k->multi) {
    MlirValue tiles = skv_ceildivui(b, call_rows(k), idx(k, k->plan->tile_heads));
    k->kv_head = skv_divui(b, y, tiles);
    k->tile = skv_remui(b, y, tiles);
    return;
  }
  int tiles = k->plan->head_tiles;
  k->kv_head = tiles == 1 ? y : skv_divui(b, y, idx(k, tiles));
  k->tile = tiles == 1 ? idx(k, 0) : skv_remui(b, y, idx(k, tiles));
}

/* Step 1: the CTA's coordinates and the lane's place in the fragments. */
static void locate(split_kernel *k) {
  skv_builder *b = k->b;
  k->chunk = skv_block_id(b, 'x');
  place_head(k, skv_block_id(b, 'y'));
  k->batch = skv_block_id(b, 'z');
  k->tid = skv_thread_id(b, 'x');
  place_lane(k);
}

/* Where this sequence's page ids start in the page table: b times the
 * padded table's row stride, or the CSR form's page_rows[b] (read like
 * seqlens: as it is at the time, ordered). */
static MlirValue page_row(split_kernel *k) {
  skv_builder *b = k->b;
  MlirValue stride = k->arg[ARG_page_row_stride];
  skv_if padded;
  MlirType i32 = k->i32;
  skv_if_values_begin(b, &padded, skv_cmpi_slt(b, tok(k, 0), stride), 1, &i32);
  MlirValue from_stride = skv_muli(b, to_tok(k, k->batch), stride);
  skv_if_values_else(b, &padded, &from_stride);
  MlirValue from_rows = skv_load_ordered_i32(b, k->arg[ARG_page_rows], k->batch);
  skv_if_values_end(b, &padded, &from_rows);
  return mlirOperationGetResult(padded.op, 0);
}

/* The keys the call's queries attend to, the last ones of the sequence:
 * len, or with a sliding window of W tokens min(len, W + q_len - 1) (the
 * first query token's window to the last one's). */
static MlirValue window_len(split_kernel *k, MlirValue len) {
  if (!k->spec->sliding_window)
    return len;
  MlirValue window = tok(k, k->spec->sliding_window);
  if (k->multi)
    window = skv_addi(k->b, window, skv_subi(k->b, k->q_len, tok(k, 1)));
  return skv_minsi(k->b, len, window);
}

/* Sequence b's length (b: index), read as it is at the time (ordered),
 * negative as 0. */
static MlirValue seq_len(split_kernel *k, MlirValue b_index) {
  MlirValue len = skv_load_ordered_i32(k->b, k->arg[ARG_seqlens], b_index);
  return skv_maxsi(k->b, len, tok(k, 0));
}

/* Step 2, uniform partition: this CTA's share of its sequence, len tokens.
 * The sequence is cut into blocks of ceil(len / splits) tokens, at most one
 * CTA loop step (tokens_per_step), dealt round-robin: CTA c takes blocks c,
 * c + splits, ... A short sequence gives every CTA one block of its own; a
 * long one keeps the CTAs of a (batch, kv head) reading neighbouring blocks
 * at any moment, one stretch of memory swept together, rather than splits
 * streams far apart (which cost the [b, h, s, d] layout 2.5% of its
 * bandwidth at 131072 tokens). */
static void chunk_bounds(split_kernel *k, MlirValue len) {
  skv_builder *b = k->b;
  MlirValue splits = k->arg[ARG_num_splits];
  MlirValue cta_step = tok(k, k->streams * k->plan->warp_tokens);
  /* A sliding window: the chunks cut its n tokens, from len - n on. */
  MlirValue n = window_len(k, len);
  MlirValue block = skv_minsi(b, skv_ceildivui(b, n, splits), cta_step);
  k->start = skv_minsi(b, skv_muli(b, to_tok(k, k->chunk), block), n);
  if (k->spec->sliding_window)
    k->start = skv_addi(b, k->start, skv_subi(b, len, n));
  MlirValue one_block = skv_cmpi_slt(b, block, cta_step);
  k->end = skv_select(b, one_block, skv_minsi(b, skv_addi(b, k->start, block), len), len);
  k->stride = skv_muli(b, splits, cta_step);
  k->len = len;
}

/* The sum of v over the warp, in every lane. */
static MlirValue warp_sum(split_kernel *k, MlirValue v) {
  for (int offset = 1; offset < 32; offset *= 2)
    v = skv_addi(k->b, v, skv_shuffle_xor(k->b, v, offset));
  return v;
}

/* Sequence n's weight in the balanced partition (kernel_abi.h), n the
 * tokens it attends to: n plus the plan's segment cost if n > 0 (what a
 * CTA spends on a segment beyond its tokens, in tokens), else 0. */
static MlirValue seq_weight(split_kernel *k, MlirValue n) {
  skv_builder *b = k->b;
  if (!k->plan->segment_tokens)
    return n;
  return skv_select(b, skv_cmpi_slt(b, tok(k, 0), n),
                    skv_addi(b, n, tok(k, k->plan->segment_tokens)), n);
}

/* Sequence j's weight for lane j of a round of 32 (i32), 0 past the batch. */
static MlirValue lane_weight(split_kernel *k, MlirValue j) {
  skv_builder *b = k->b;
  MlirValue valid = skv_cmpi_slt(b, j, k->arg[ARG_batch]);
  MlirValue at = skv_index_cast(b, skv_select(b, valid, j, tok(k, 0)), skv_type_index(b));
  return skv_select(b, valid, seq_weight(k, window_len(k, seq_len(k, at))), tok(k, 0));
}

/* The balanced CTA's range [lo, hi) of the batch's weight, from the
 * range length and the total in shared memory (SHARED_RANGE: read, not
 * held, in the loop over segments). */
static void load_range(split_kernel *k) {
  skv_builder *b = k->b;
  k->span = skv_load_volatile_i32(b, k->arg[SHARED_RANGE], idx(k, RANGE_SPAN));
  MlirValue total = skv_load_volatile_i32(b, k->arg[SHARED_RANGE], idx(k, RANGE_TOTAL));
  k->lo = skv_muli(b, to_tok(k, k->chunk), k->span);
  k->hi = skv_minsi(b, skv_addi(b, k->lo, k->span), total);
}

/* Step 2a, balanced partition (kernel_abi.h): the batch's total weight
 * and this CTA's range of it, kept in SHARED_RANGE, then the first
 * sequence the range meets, returned with the weight of the sequences
 * before it (*out_before). Each warp reads the lengths 32 at a time and
 * sums by warp shuffles (every warp alike: no barrier): first the total,
 * then which sequences end at or before lo (sequence j ends at incl_j,
 * the sum of weights 0 .. j). */
static MlirValue first_sequence(split_kernel *k, MlirValue *out_before) {
  skv_builder *b = k->b;
  MlirValue batch = k->arg[ARG_batch], lane = to_tok(k, k->lane);
  MlirValue zero = tok(k, 0), one = tok(k, 1);
  skv_for totals;
  skv_for_begin(b, &totals, zero, batch, tok(k, 32), 1, &zero);
  MlirValue sum = skv_addi(b, totals.carried[0],
                           warp_sum(k, lane_weight(k, skv_addi(b, totals.iv, lane))));
  skv_for_end(b, &totals, &sum);
  MlirValue total = mlirOperationGetResult(totals.op, 0);
  MlirValue span = skv_maxsi(b, skv_ceildivui(b, total, k->arg[ARG_num_splits]), one);
  /* Every thread writes the same values and reads back its own. */
  skv_store(b, span, k->arg[SHARED_RANGE], idx(k, RANGE_SPAN));
  skv_store(b, total, k->arg[SHARED_RANGE], idx(k, RANGE_TOTAL));
  MlirValue lo = skv_muli(b, to_tok(k, k->chunk), span);
  /* Carried: the weight of the rounds before, sequences ending by lo,
   * and their weight. */
  MlirValue init[3] = {zero, zero, zero};
  skv_for rounds;
  skv_for_begin(b, &rounds, zero, batch, tok(k, 32), 3, init);
  MlirValue j = skv_addi(b, rounds.iv, lane);
  MlirValue weight = lane_weight(k, j);
  MlirValue incl = weight;
  for (int offset = 1; offset < 32; offset *= 2)
    incl = skv_addi(b, incl, skv_shuffle_up(b, incl, offset, zero));
  incl = skv_addi(b, incl, rounds.carried[0]);
  MlirValue ended = skv_andi(b, skv_cmpi_slt(b, j, batch),
                             skv_cmpi_slt(b, incl, skv_addi(b, lo, one)));
  MlirValue next[3] = {
      skv_addi(b, rounds.carried[0], warp_sum(k, weight)),
      skv_addi(b, rounds.carried[1], warp_sum(k, skv_select(b, ended, one, zero))),
      skv_addi(b, rounds.carried[2], warp_sum(k, skv_select(b, ended, weight, zero))),
  };
  skv_for_end(b, &rounds, next);
  *out_before = mlirOperationGetResult(rounds.op, 2);
  return mlirOperationGetResult(rounds.op, 1);
}

/* Step 2b, balanced: the segment of sequence b (k->len tokens, of which
 * the window's count; `before` tokens of the batch ahead of it) in this
 * CTA's range, streamed as one block per CTA step. */
static void segment_bounds(split_kernel *k, MlirValue before) {
  skv_builder *b = k->b;
  MlirValue zero = tok(k, 0), minus_before = skv_muli(b, before, tok(k, -1));
  MlirValue n = window_len(k, k->len), first = skv_subi(b, k->len, n);
  k->start = skv_addi(b, skv_maxsi(b, skv_addi(b, k->lo, minus_before), zero), first);
  k->end = skv_addi(b, skv_minsi(b, skv_addi(b, k->hi, minus_before), n), first);
  k->stride = tok(k, k->streams * k->plan->warp_tokens);
}

/* Row `head` of this CTA's tile among its kv head's rows (kernel_abi.h:
 * token row / G, q head row % G of the group). */
static MlirValue kv_head_row(split_kernel *k, MlirValue head) {
  return skv_addi(k->b, skv_muli(k->b, k->tile, idx(k, k->plan->tile_heads)), head);
}

/* The query token (index, of q_len) of row `head` of this CTA's tile. */
static MlirValue q_token(split_kernel *k, MlirValue head) {
  return k->multi ? skv_divui(k->b, kv_head_row(k, head), idx(k, k->plan->group)) : idx(k, 0);
}

/* The q head (of num_q_heads) of row `head` of this CTA's tile. */
static MlirValue q_head(split_kernel *k, MlirValue head) {
  skv_builder *b = k->b;
  const skv_kernel_plan *plan = k->plan;
  MlirValue first = skv_muli(b, k->kv_head, idx(k, plan->group));
  if (k->multi)
    return skv_addi(b, first, skv_remui(b, kv_head_row(k, head), idx(k, plan->group)));
  first = skv_addi(b, first, skv_muli(b, k->tile, idx(k, plan->tile_heads)));
  return skv_addi(b, first, head);
}

/* The row (token and q head) of this sequence's q_len * num_q_heads that
 * row `head` of this CTA's tile is: token * num_q_heads + q head. */
static MlirValue seq_row(split_kernel *k, MlirValue head) {
  MlirValue token_rows = skv_muli(k->b, q_token(k, head), idx(k, k->spec->num_q_heads));
  return k->multi ? skv_addi(k->b, token_rows, q_head(k, head)) : q_head(k, head);
}

/* Index of row `head` of this CTA's tile in [batch, q_len, num_q_heads]. */
static MlirValue q_row(split_kernel *k, MlirValue head) {
  skv_builder *b = k->b;
  MlirValue seq_rows = idx(k, k->spec->num_q_heads);
  if (k->multi)
    seq_rows = skv_muli(b, seq_rows, skv_index_cast(b, k->q_len, skv_type_index(b)));
  return skv_addi(b, skv_muli(b, k->batch, seq_rows), seq_row(k, head));
}

/* Is row `head` (< tile_heads) of this CTA's tile one of the call's? Only
 * the last tile may be short (of the group, or of the q_len * G rows). */
static MlirValue head_in_group(split_kernel *k, MlirValue head) {
  skv_builder *b = k->b;
  const skv_kernel_plan *plan = k->plan;
  MlirValue in_tile = skv_cmpi_slt(b, head, idx(k, plan->tile_heads));
  if (k->multi)
    return skv_andi(b, in_tile, skv_cmpi_slt(b, kv_head_row(k, head), call_rows(k)));
  if (plan->group % plan->tile_heads == 0)
    return in_tile;
  return skv_andi(b, in_tile, skv_cmpi_slt(b, kv_head_row(k, head), idx(k, plan->group)));
}

/* Step 3b: the keys each row half of this lane attends to in the chunk.
 * One query token: the chunk's [start, end). Several: token i of q_len
 * sits at position len - q_len + i and sees keys up to it (and, with a
 * window of W, the W - 1 before it): per-row bounds, held through the
 * loop in place of end. */
static void row_bounds(split_kernel *k) {
  skv_builder *b = k->b;
  for (int h = 0; h < 2; ++h) {
    k->row_end[h] = k->end;
    if (!k->multi || h >= k->halves)
      continue;
    MlirValue token = to_tok(k, q_token(k, skv_addi(b, k->row, idx(k, 8 * h))));
    MlirValue after = skv_addi(b, skv_subi(b, k->len, k->q_len), skv_addi(b, token, tok(k, 1)));
    k->row_end[h] = skv_minsi(b, k->end, after);
    if (k->spec->sliding_window)
      k->row_before[h] = skv_subi(b, after, tok(k, k->spec->sliding_window + 1));
  }
}

/* Step 3: the tile's q heads as A fragments, loaded once. Rows past the
 * tile or the group read head 0 (valid memory) and are replaced by zeros. */
static void load_q(split_kernel *k) {
  skv_builder *b = k->b;
  MlirValue zero = skv_const_i32(b, 0);
  for (int h = 0; h < 2; ++h) {
    if (h >= k->halves) {
      for (int blk = 0; blk < k->blocks; ++blk)
        for (int i = 0; i < 4; ++i)
          k->q[h][blk][i] = zero;
      continue;
    }
    MlirValue head = skv_addi(b, k->row, idx(k, 8 * h));
    MlirValue in_group = head_in_group(k, head);
    head = skv_select(b, in_group, head, idx(k, 0));
    MlirValue base = skv_muli(b, q_row(k, head), idx(k, k->spec->head_dim));
    base = skv_addi(b, base, skv_addi(b, k->dim0, skv_muli(b, k->col, idx(k, 8))));
    for (int blk = 0; blk < k->blocks; ++blk) {
      regs_of(k, skv_vector_load(b, k->tx8, k->arg[ARG_q], skv_addi(b, base, block_offset(k, blk))),
              k->q[h][blk]);
      MlirValue keep = is_tail(k, blk) ? skv_andi(b, in_group, k->tail_valid) : in_group;
      for (int i = 0; i < 4; ++i)
        k->q[h][blk][i] = skv_select(b, keep, k->q[h][blk][i], zero);
    }
  }
}

/* Element offset of `token` (i32)'s row of this CTA's kv head: the head's
 * base first, one loop-invariant value (the loop adds only token·stride).
 * In a paged cache `page` is the token's page id (i32): the row is slot
 * token % page_size of that page (stride_batch is the page stride). */
static MlirValue row_offset(split_kernel *k, int stride_batch, MlirValue token,
                            MlirValue page) {
  skv_builder *b = k->b;
  MlirType index = skv_type_index(b);
  if (k->page_size) {
    MlirValue slot = skv_remui(b, token, tok(k, k->page_size));
    MlirValue head = skv_muli(b, k->kv_head, arg_index(k, stride_batch + 2));
    MlirValue base = skv_addi(b, head, skv_muli(b, skv_index_cast(b, page, index),
                                                arg_index(k, stride_batch)));
    return skv_addi(b, base, skv_muli(b, skv_index_cast(b, slot, index),
                                      arg_index(k, stride_batch + 1)));
  }
  MlirValue head = skv_addi(b, skv_muli(b, k->batch, arg_index(k, stride_batch)),
                            skv_muli(b, k->kv_head, arg_index(k, stride_batch + 2)));
  return skv_addi(b, head, skv_muli(b, skv_index_cast(b, token, index),
                                     arg_index(k, stride_batch + 1)));
}

/* Element offset of dims dim0 + 32·blk + 8c of `token` of this CTA's kv
 * head (page: as row_offset). */
static MlirValue kv_offset(split_kernel *k, int stride_batch, MlirValue token,
                           MlirValue page) {
  return skv_addi(k->b, row_offset(k, stride_batch, token, page),
                  skv_addi(k->b, k->dim0, skv_muli(k->b, k->col, idx(k, 8))));
}

/* The page id of `token` (i32) of this CTA's sequence, read from the page
 * table: ordered before the wait for the previous kernel (the table as it
 * is then; only a prefetch uses it), plainly after it. */
static MlirValue page_of(split_kernel *k, MlirValue token, int ordered) {
  skv_builder *b = k->b;
  MlirValue entry = skv_addi(b, k->page_row, skv_divui(b, token, tok(k, k->page_size)));
  entry = skv_index_cast(b, entry, skv_type_index(b));
  return ordered ? skv_load_ordered_i32(b, k->arg[ARG_pages], entry)
                 : skv_load(b, k->arg[ARG_pages], entry);
}

/* One warp step's rows of K and V: lane row r holds token base + 8j + r of
 * tile j, one 16-byte vector per 32-dim block. */
typedef struct step_rows {
  MlirValue token[MAX_NTILES];
  MlirValue page[MAX_NTILES]; /* a paged cache: each token's page id */
  MlirValue k[MAX_NTILES][MAX_BLOCKS];
  MlirValue v[MAX_NTILES][MAX_BLOCKS];
} step_rows;

/* This lane's slices of the warp's dims of `token`'s row of K or V
 * (argument cache). */
static void load_rows(split_kernel *k, int cache, MlirValue token, MlirValue page,
                      MlirValue *out) {
  MlirValue off = kv_offset(k, cache == ARG_k ? ARG_k_sb : ARG_v_sb, token, page);
  for (int blk = 0; blk < k->blocks; ++blk)
    out[blk] = skv_vector_load(k->b, k->tx8, k->arg[cache],
                               skv_addi(k->b, off, block_offset(k, blk)));
}

/* The tokens lane row r loads in the step at base: base + 8j + r for tile
 * j. Tokens past the chunk re-read its first token, valid memory whenever
 * the chunk is not empty, and are masked out of the softmax. */
static void step_tokens(split_kernel *k, MlirValue base, step_rows *rows) {
  skv_builder *b = k->b;
  for (int j = 0; j < k->plan->warp_tokens / 8; ++j) {
    MlirValue t = skv_addi(b, base, skv_addi(b, k->row_token, tok(k, 8 * j)));
    rows->token[j] = skv_select(b, skv_cmpi_slt(b, t, k->end), t, k->start);
  }
}

/* A paged cache: the page ids of the step's tokens (rows->token). */
static void step_pages(split_kernel *k, step_rows *rows, int ordered) {
  for (int j = 0; j < k->plan->warp_tokens / 8; ++j)
    rows->page[j] = page_of(k, rows->token[j], ordered);
}

/* A paged cache: the page ids of the step at base, for the loop to carry
 * a step ahead of its loads. */
static void step_page_ids(split_kernel *k, MlirValue base, MlirValue *out) {
  step_rows rows;
  step_tokens(k, base, &rows);
  step_pages(k, &rows, 0);
  for (int j = 0; j < k->plan->warp_tokens / 8; ++j)
    out[j] = rows.page[j];
}

/* Loads this warp's rows of K and V of the step whose tokens (and, paged,
 * pages) rows holds. */
static void load_step(split_kernel *k, step_rows *rows) {
  for (int j = 0; j < k->plan->warp_tokens / 8; ++j) {
    load_rows(k, ARG_k, rows->token[j], rows->page[j], rows->k[j]);
    load_rows(k, ARG_v, rows->token[j], rows->page[j], rows->v[j]);
  }
}

/* A step's rows, as a flat list (loop-carried). */
static int rows_flatten(split_kernel *k, step_rows *rows, MlirValue **out) {
  int n = 0;
  for (int j = 0; j < k->plan->warp_tokens / 8; ++j)
    for (int blk = 0; blk < k->blocks; ++blk) {
      out[n++] = &rows->k[j][blk];
      out[n++] = &rows->v[j][blk];
    }
  return n;
}

/* Packs two f32 into one register of two dtype elements. */
static MlirValue pack2(split_kernel *k, MlirValue x, MlirValue y) {
  skv_builder *b = k->b;
  MlirValue pair[2] = {x, y};
  MlirValue v = skv_from_elements(b, skv_type_vector(k->f32, 2), 2, pair);
  v = skv_truncf(b, v, skv_type_vector(skv_dtype_type(b, k->spec->dtype), 2));
  return skv_extract(b, skv_vector_bitcast(b, v, skv_type_vector(k->i32, 1)), 0);
}

/* Shared-memory offset of the slots of `parity` for this warp's stream: a
 * slot per warp of the stream, 32 lanes of plan->pair_scores floats each
 * (4 to 16: 16-byte vectors). */
static MlirValue scores_slot(split_kernel *k, MlirValue parity) {
  MlirValue pair = skv_addi(k->b, skv_muli(k->b, k->stream, idx(k, 2)), parity);
  return skv_muli(k->b, pair, idx(k, skv_pair_parity_floats(k->plan)));
}

/* Step 4b (dim_split 2 or 4): S holds this warp's share of Q·Kᵀ, over its
 * dims; the warps of the stream add their shares up through shared memory.
 * The slots alternate between steps (parity), so that one barrier a step
 * suffices: a warp writes a slot again only after the next barrier, which
 * its partners reach after reading it. Every warp must hold the same S and
 * run the same softmax: two warps add mine + theirs (float addition
 * commutes), four add all four slots in warp order (it does not
 * associate). */
static void add_partner_scores(split_kernel *k, MlirValue parity, MlirValue s[][4]) {
  skv_builder *b = k->b;
  const int n = k->plan->pair_scores, w = k->acc_width;
  MlirType vec = skv_type_vector(k->f32, n);
  MlirValue slot = scores_slot(k, parity);
  MlirValue partner = skv_remui(b, skv_addi(b, k->half, idx(k, 1)), idx(k, 2));
  MlirValue mine[MAX_NTILES * 4];
  for (int i = 0; i < n; ++i)
    mine[i] = s[i / w][i % w];
  MlirValue at = skv_muli(b, skv_addi(b, skv_muli(b, k->half, idx(k, 32)), k->lane), idx(k, n));
  skv_vector_store(b, skv_from_elements(b, vec, n, mine), k->arg[SHARED_SCORES],
                   skv_addi(b, slot, at));
  skv_barrier_named(b, k->pair_barrier, 32 * k->plan->dim_split);
  if (k->plan->dim_split > 2) {
    for (int warp = 0; warp < k->plan->dim_split; ++warp) {
      at = skv_muli(b, skv_addi(b, idx(k, 32 * warp), k->lane), idx(k, n));
      MlirValue share = skv_vector_load(b, vec, k->arg[SHARED_SCORES], skv_addi(b, slot, at));
      for (int i = 0; i < n; ++i)
        s[i / w][i % w] = warp == 0 ? skv_extract(b, share, i)
                                    : skv_addf(b, s[i / w][i % w], skv_extract(b, share, i));
    }
    return;
  }
  at = skv_muli(b, skv_addi(b, skv_muli(b, partner, idx(k, 32)), k->lane), idx(k, n));
  MlirValue theirs = skv_vector_load(b, vec, k->arg[SHARED_SCORES], skv_addi(b, slot, at));
  for (int i = 0; i < n; ++i)
    s[i / w][i % w] = skv_addf(b, s[i / w][i % w], skv_extract(b, theirs, i));
}

/* One loop step of one warp: tokens [base, base + warp_tokens); parity
 * (dim_split 2) picks the step's pair slots in shared memory. */
static void warp_step(split_kernel *k, MlirValue base, MlirValue parity, const step_rows *rows,
                      const softmax_state *in, softmax_state *out) {
  skv_builder *b = k->b;
  const skv_dtype dtype = k->spec->dtype;
  const int ntiles = k->plan->warp_tokens / 8, blocks = k->blocks;
  MlirValue neg_inf = skv_const_f32(b, -INFINITY), zero_f = skv_const_f32(b, 0.0f);
  MlirValue kr[MAX_NTILES][MAX_BLOCKS][4], vr[MAX_NTILES][MAX_BLOCKS][4];
  for (int j = 0; j < ntiles; ++j)
    for (int blk = 0; blk < blocks; ++blk)
      regs_of(k, rows->k[j][blk], kr[j][blk]);

  /* S = Q·Kᵀ: per tile of 8 tokens, two k16 mmas per 32-dim block. */
  MlirValue s[MAX_NTILES][4];
  for (int j = 0; j < ntiles; ++j) {
    for (int e = 0; e < 4; ++e)
      s[j][e] = zero_f;
    for (int blk = 0; blk < blocks; ++blk)
      for (int sub = 0; sub < 2; ++sub) {
        MlirValue a[4] = {k->q[0][blk][2 * sub], k->q[1][blk][2 * sub],
                          k->q[0][blk][2 * sub + 1], k->q[1][blk][2 * sub + 1]};
        MlirValue bk[2] = {kr[j][blk][2 * sub], kr[j][blk][2 * sub + 1]};
        skv_mma(b, dtype, a, bk, s[j], s[j]);
      }
  }
  if (k->plan->dim_split > 1)
    add_partner_scores(k, parity, s);

  /* Online softmax per row half: fragment element e of tile j is head
   * row + 8·(e / 2), token base + 8j + 2c + e % 2. */
  MlirValue scale = skv_const_f32(b, k->spec->softmax_scale * (float)SKV_LOG2E);
  const float cap = k->spec->logit_softcap;
  MlirValue cap_inner = skv_const_f32(b, cap > 0.0f ? k->spec->softmax_scale / cap : 0.0f);
  MlirValue p[MAX_NTILES][4], alpha[2];
  for (int h = 0; h < 2; ++h) {
    if (h >= k->halves) {
      for (int j = 0; j < ntiles; ++j)
        p[j][2 * h] = p[j][2 * h + 1] = zero_f;
      alpha[h] = skv_const_f32(b, 1.0f);
      continue;
    }
    MlirValue mx = in->m[h];
    for (int j = 0; j < ntiles; ++j)
      for (int e = 2 * h; e < 2 * h + 2; ++e) {
        MlirValue t = skv_addi(b, base, skv_addi(b, skv_muli(b, k->col_token, tok(k, 2)),
                                                 tok(k, 8 * j + e % 2)));
        MlirValue score = skv_mulf(b, s[j][e], scale);
        /* Soft-capped logits: C·tanh(s·scale / C), in the exp2 domain. */
        if (cap > 0.0f)
          score = skv_mulf(b, skv_const_f32(b, cap * (float)SKV_LOG2E),
                           skv_tanh(b, skv_mulf(b, s[j][e], cap_inner)));
        MlirValue attends = skv_cmpi_slt(b, t, k->row_end[h]);
        if (k->multi && k->spec->sliding_window)
          attends = skv_andi(b, attends, skv_cmpi_slt(b, k->row_before[h], t));
        s[j][e] = skv_select(b, attends, score, neg_inf);
        mx = skv_maxf(b, mx, s[j][e]);
      }
    /* The four lanes of a quad share a row. */
    mx = skv_maxf(b, mx, skv_shuffle_xor(b, mx, 1));
    mx = skv_maxf(b, mx, skv_shuffle_xor(b, mx, 2));
    MlirValue base_m = skv_softmax_safe_max(b, mx);
    alpha[h] = skv_exp2(b, skv_subf(b, in->m[h], base_m));
    MlirValue l = skv_mulf(b, in->l[h], alpha[h]);
    for (int j = 0; j < ntiles; ++j)
      for (int e = 2 * h; e < 2 * h + 2; ++e) {
        p[j][e] = skv_exp2(b, skv_subf(b, s[j][e], base_m));
        l = skv_addf(b, l, p[j][e]);
      }
    out->m[h] = mx;
    out->l[h] = l;
  }

  for (int j = 0; j < ntiles; ++j)
    for (int blk = 0; blk < blocks; ++blk)
      regs_of(k, rows->v[j][blk], vr[j][blk]);

  /* P as the A fragment of P·V: S's accumulator layout is A's layout. */
  MlirValue pa[2 * MAX_NTILES];
  for (int j = 0; j < ntiles; ++j) {
    pa[2 * j] = pack2(k, p[j][0], p[j][1]);
    pa[2 * j + 1] = pack2(k, p[j][2], p[j][3]);
  }

  /* O = O·alpha + P·V, per 8-dim output tile (blk, i): one k16 mma per
   * two tiles of tokens. */
  MlirValue alphas[4] = {alpha[0], alpha[0], alpha[1], alpha[1]};
  MlirValue rescale = skv_from_elements(b, k->acc, k->acc_width, alphas);
  for (int blk = 0; blk < blocks; ++blk)
    for (int i = 0; i < 4; ++i) {
      MlirValue bv[MAX_NTILES];
      for (int j = 0; j < ntiles; ++j)
        bv[j] = skv_movmatrix_trans(b, vr[j][blk][i]);
      MlirValue o = skv_mulf(b, in->o[4 * blk + i], rescale);
      MlirValue c[4], d[4];
      for (int e = 0; e < 4; ++e)
        c[e] = e < k->acc_width ? skv_extract(b, o, e) : zero_f;
      for (int kc = 0; kc < ntiles / 2; ++kc) {
        skv_mma(b, dtype, &pa[4 * kc], &bv[2 * kc], c, d);
        memcpy(c, d, sizeof(c));
      }
      out->o[4 * blk + i] = skv_from_elements(b, k->acc, k->acc_width, d);
    }
}

/* The first token of this warp's stream in the CTA's first block. */
static MlirValue stream_first(split_kernel *k) {
  return skv_addi(k->b, k->start,
                  skv_muli(k->b, to_tok(k, k->stream), tok(k, k->plan->warp_tokens)));
}

/* Step 2a (sm_90+), before the wait for the previous kernel: the lines of
 * this warp's first step of K and V into L2, from chunk bounds of the
 * length seqlens holds now: the previous kernel may still be writing it,
 * but either value is a length the cache holds, and a prefetch is a hint
 * whose data nobody reads. While the previous kernel drains (an idle DRAM
 * for microseconds), the first step streams in: llama3_8b at 8192 tokens
 * 16.4 -> 15.0 us on an H100. */
static void prefetch_first_step(split_kernel *k) {
  skv_builder *b = k->b;
  if (k->page_size)
    k->page_row = page_row(k);
  chunk_bounds(k, seq_len(k, k->batch));
  MlirValue first = stream_first(k);
  skv_if has_tokens;
  skv_if_begin(b, &has_tokens, skv_cmpi_slt(b, first, k->end));
  step_rows rows;
  step_tokens(k, first, &rows);
  if (k->page_size)
    step_pages(k, &rows, 1);
  /* The four lanes of a row share its 128-byte lines (64 elements each):
   * lane c takes line c, modulo the lines of the warp's share of the row. */
  /* Whole lines only: every line prefetched starts inside the row. */
  const int dims = k->spec->head_dim / k->plan->dim_split;
  for (int j = 0; j < k->plan->warp_tokens / 8; ++j)
    for (int cache = ARG_k; cache <= ARG_v; ++cache) {
      MlirValue off = row_offset(k, cache == ARG_k ? ARG_k_sb : ARG_v_sb, rows.token[j],
                                 rows.page[j]);
      off = skv_addi(b, off, k->dim0);
      MlirValue line = skv_remui(b, k->col, idx(k, dims > 64 ? dims / 64 : 1));
      skv_prefetch_l2(b, k->arg[cache], skv_addi(b, off, skv_muli(b, line, idx(k, 64))),
                      (int)sizeof(uint16_t));
    }
  skv_if_end(b, &has_tokens);
}

/* Step 4: each stream takes its share of the CTA's blocks, a step at a time
 * (the streams of a CTA step side by side in a block). The loads of the next
 * step are issued before the current step's math, so every warp always has
 * a step of K and V in flight; in a paged cache the page ids of the step
 * after it are read then too, so that no K or V load waits for the table. */
static void stream_chunk(split_kernel *k, softmax_state *state) {
  skv_builder *b = k->b;
  const int tiles = 4 * k->blocks, ntiles = k->plan->warp_tokens / 8;
  MlirValue stride = k->stride;
  MlirValue first = stream_first(k);

  /* The first step's rows, if this warp has any tokens; paged, also the
   * second step's page ids. */
  step_rows rows;
  MlirValue *row_slots[2 * MAX_NTILES * MAX_BLOCKS];
  int nrows = rows_flatten(k, &rows, row_slots);
  const int npages = k->page_size ? ntiles : 0;
  MlirType types[2 * MAX_NTILES * MAX_BLOCKS + MAX_NTILES];
  MlirValue zero[2 * MAX_NTILES * MAX_BLOCKS + MAX_NTILES];
  MlirValue loaded[2 * MAX_NTILES * MAX_BLOCKS + MAX_NTILES];
  MlirValue zero_row = skv_truncf(b, skv_const_f32_vector(b, 8, 0.0f), k->tx8);
  for (int i = 0; i < nrows; ++i) {
    types[i] = k->tx8;
    zero[i] = zero_row;
  }
  for (int j = 0; j < npages; ++j) {
    types[nrows + j] = k->i32;
    zero[nrows + j] = tok(k, 0);
  }
  skv_if has_tokens;
  skv_if_values_begin(b, &has_tokens, skv_cmpi_slt(b, first, k->end), nrows + npages, types);
  step_tokens(k, first, &rows);
  if (npages)
    step_pages(k, &rows, 0);
  load_step(k, &rows);
  for (int i = 0; i < nrows; ++i)
    loaded[i] = *row_slots[i];
  if (npages)
    step_page_ids(k, skv_addi(b, first, stride), &loaded[nrows]);
  skv_if_values_else(b, &has_tokens, loaded);
  skv_if_values_end(b, &has_tokens, zero);
  for (int i = 0; i < nrows; ++i)
    *row_slots[i] = mlirOperationGetResult(has_tokens.op, i);

  MlirValue init[SKV_MAX_CARRIED];
  MlirValue zero_acc = skv_const_f32_vector(b, k->acc_width, 0.0f);
  init[0] = init[1] = skv_const_f32(b, -INFINITY);
  init[2] = init[3] = skv_const_f32(b, 0.0f);
  for (int t = 0; t < tiles; ++t)
    init[4 + t] = zero_acc;
  for (int i = 0; i < nrows; ++i)
    init[4 + tiles + i] = *row_slots[i];
  /* Paged: the next step's page ids; dim_split 2: the parity of the step's
   * pair slots, last. */
  const int pages_at = 4 + tiles + nrows;
  for (int j = 0; j < npages; ++j)
    init[pages_at + j] = mlirOperationGetResult(has_tokens.op, nrows + j);
  const int pairs = k->plan->dim_split > 1;
  const int carried = pages_at + npages + pairs;
  if (pairs)
    init[carried - 1] = idx(k, 0);

  skv_for loop;
  skv_for_begin(b, &loop, first, k->end, stride, carried, init);
  softmax_state in, out;
  for (int h = 0; h < 2; ++h) {
    in.m[h] = out.m[h] = loop.carried[h];
    in.l[h] = out.l[h] = loop.carried[2 + h];
  }
  for (int t = 0; t < tiles; ++t)
    in.o[t] = loop.carried[4 + t];
  step_rows current = rows;
  MlirValue *current_slots[2 * MAX_NTILES * MAX_BLOCKS];
  rows_flatten(k, &current, current_slots);
  for (int i = 0; i < nrows; ++i)
    *current_slots[i] = loop.carried[4 + tiles + i];
  MlirValue next[SKV_MAX_CARRIED];
  MlirValue next_base = skv_addi(b, loop.iv, stride);
  step_tokens(k, next_base, &rows);
  for (int j = 0; j < npages; ++j)
    rows.page[j] = loop.carried[pages_at + j];
  load_step(k, &rows);
  for (int i = 0; i < nrows; ++i)
    next[4 + tiles + i] = *row_slots[i];
  if (npages)
    step_page_ids(k, skv_addi(b, next_base, stride), &next[pages_at]);
  MlirValue parity = {NULL};
  if (pairs) {
    parity = loop.carried[carried - 1];
    next[carried - 1] = skv_remui(b, skv_addi(b, parity, idx(k, 1)), idx(k, 2));
  }
  warp_step(k, loop.iv, parity, &current, &in, &out);
  next[0] = out.m[0];
  next[1] = out.m[1];
  next[2] = out.l[0];
  next[3] = out.l[1];
  for (int t = 0; t < tiles; ++t)
    next[4 + t] = out.o[t];
  skv_for_end(b, &loop, next);

  for (int h = 0; h < 2; ++h) {
    state->m[h] = mlirOperationGetResult(loop.op, h);
    /* Each lane summed its own columns: add up the quad. */
    MlirValue l = mlirOperationGetResult(loop.op, 2 + h);
    l = skv_addf(b, l, skv_shuffle_xor(b, l, 1));
    state->l[h] = skv_addf(b, l, skv_shuffle_xor(b, l, 2));
  }
  for (int t = 0; t < tiles; ++t)
    state->o[t] = mlirOperationGetResult(loop.op, 4 + t);
}

/* Step 5: every stream publishes (max, sum, accumulator) of the tile's
 * heads: row half h of lane (r, c) is head r + 8h, dims 32·blk + 8c .. +7. */
static void publish_streams(split_kernel *k, const softmax_state *st) {
  skv_builder *b = k->b;
  const int G = k->plan->tile_heads, D = k->spec->head_dim;
  MlirValue stats = k->arg[SHARED_STATS], acc = k->arg[SHARED_ACC];
  for (int h = 0; h < k->halves; ++h) {
    MlirValue head = skv_addi(b, k->row, idx(k, 8 * h));
    MlirValue slot = skv_addi(b, skv_muli(b, k->stream, idx(k, G)), head);
    skv_if in_group;
    skv_if_begin(b, &in_group, skv_cmpi_slt(b, head, idx(k, G)));
    /* The warps of a stream computed the same (max, sum): the first one
     * writes them. */
    skv_if leader;
    skv_if_begin(b, &leader, skv_andi(b, skv_cmpi_eq(b, k->col, idx(k, 0)),
                                      skv_cmpi_eq(b, k->half, idx(k, 0))));
    skv_store(b, st->m[h], stats, skv_muli(b, slot, idx(k, 2)));
    skv_store(b, st->l[h], stats, skv_addi(b, skv_muli(b, slot, idx(k, 2)), idx(k, 1)));
    skv_if_end(b, &leader);
    MlirValue row0 = skv_addi(b, skv_muli(b, slot, idx(k, D)), skv_muli(b, k->col, idx(k, 8)));
    row0 = skv_addi(b, row0, k->dim0);
    for (int blk = 0; blk < k->blocks; ++blk) {
      MlirValue dims[8];
      for (int i = 0; i < 4; ++i) {
        dims[2 * i] = skv_extract(b, st->o[4 * blk + i], 2 * h);
        dims[2 * i + 1] = skv_extract(b, st->o[4 * blk + i], 2 * h + 1);
      }
      skv_if tail;
      if (is_tail(k, blk))
        skv_if_begin(b, &tail, k->tail_valid);
      skv_vector_store(b, skv_from_elements(b, k->f32x8, 8, dims), acc,
                       skv_addi(b, row0, idx(k, 32 * blk)));
      if (is_tail(k, blk))
        skv_if_end(b, &tail);
    }
    skv_if_end(b, &in_group);
  }
  skv_barrier(b);
}

/* Step 6: merge the streams for 8 dims of one head and write them: the final
 * output with one chunk, else the partial one. */
static void merge_and_write(split_kernel *k) {
  skv_builder *b = k->b;
  const int G = k->plan->tile_heads, D = k->spec->head_dim, W = k->streams;
  MlirValue stats = k->arg[SHARED_STATS], acc_buf = k->arg[SHARED_ACC];

  skv_for loop;
  skv_for_begin(b, &loop, k->tid, idx(k, (int64_t)G * D / 8), idx(k, k->threads), 0, NULL);
  MlirValue g = skv_divui(b, loop.iv, idx(k, D / 8));
  MlirValue d = skv_muli(b, skv_remui(b, loop.iv, idx(k, D / 8)), idx(k, 8));

  MlirValue stream_m[2 * SKV_MAX_WARPS];
  MlirValue m = skv_const_f32(b, -INFINITY);
  for (int w = 0; w < W; ++w) {
    MlirValue slot = skv_addi(b, idx(k, (int64_t)w * G), g);
    stream_m[w] = skv_load(b, stats, skv_muli(b, slot, idx(k, 2)));
    m = skv_maxf(b, m, stream_m[w]);
  }
  MlirValue base = skv_softmax_safe_max(b, m);
  MlirValue sum = skv_const_f32(b, 0.0f), acc = skv_const_f32_vector(b, 8, 0.0f);
  for (int w = 0; w < W; ++w) {
    MlirValue slot = skv_addi(b, idx(k, (int64_t)w * G), g);
    MlirValue weight = skv_exp2(b, skv_subf(b, stream_m[w], base));
    MlirValue l_w = skv_load(b, stats, skv_addi(b, skv_muli(b, slot, idx(k, 2)), idx(k, 1)));
    MlirValue a_w = skv_vector_load(b, k->f32x8, acc_buf,
                                    skv_addi(b, skv_muli(b, slot, idx(k, D)), d));
    sum = skv_fma(b, l_w, weight, sum);
    acc = skv_fma(b, a_w, skv_broadcast(b, weight, k->f32x8), acc);
  }
  MlirValue out, lse;
  skv_softmax_finish(b, base, sum, acc, &out, &lse);
  MlirValue row = q_row(k, g);
  MlirValue splits = arg_index(k, ARG_num_splits);
  /* Uniform: final with one chunk, else row * splits + chunk. Balanced:
   * final for a whole sequence, else head * (splits + batch) + chunk + b
   * (kernel_abi.h). */
  MlirValue whole = {NULL};
  if (k->balanced)
    whole = skv_andi(b, skv_cmpi_eq(b, k->start, skv_subi(b, k->len, window_len(k, k->len))),
                     skv_cmpi_eq(b, k->end, k->len));
  MlirValue is_final = k->balanced ? whole : skv_cmpi_eq(b, splits, idx(k, 1));
  MlirValue is_partial = k->balanced ? not_(k, whole) : skv_cmpi_slt(b, idx(k, 1), splits);
  /* A short last tile's rows past the call's write nothing. */
  if (k->multi || k->plan->group % G != 0) {
    MlirValue in_group = head_in_group(k, g);
    is_final = skv_andi(b, is_final, in_group);
    is_partial = skv_andi(b, is_partial, in_group);
  }

  skv_if final;
  skv_if_begin(b, &final, is_final);
  skv_softmax_store(b, skv_truncf(b, out, k->tx8), lse, k->arg[ARG_out], k->arg[ARG_lse],
                    row, d, D);
  skv_if_end(b, &final);

  skv_if partial;
  skv_if_begin(b, &partial, is_partial);
  MlirValue part_row =
      k->balanced
          ? skv_addi(b, skv_muli(b, seq_row(k, g), skv_addi(b, splits, arg_index(k, ARG_batch))),
                     skv_addi(b, k->chunk, k->batch))
          : skv_addi(b, skv_muli(b, row, splits), k->chunk);
  skv_softmax_store(b, out, lse, k->arg[ARG_part_out], k->arg[ARG_part_lse], part_row, d, D);
  skv_if_end(b, &partial);

  skv_for_end(b, &loop, NULL);
}

/* The balanced partition's table entry of sequence b (kernel_abi.h), by
 * one thread of kv head 0's CTA that holds the sequence's first token: its
 * first partial row and the CTAs its tokens, at weight `before` of the
 * batch, fall in (its segment cost is weight past its last token). */
static void write_chunk_table(split_kernel *k, MlirValue b_tok, MlirValue len,
                              MlirValue before) {
  skv_builder *b = k->b;
  MlirValue n = window_len(k, len);
  MlirValue head_0 = skv_andi(b, skv_cmpi_eq(b, k->kv_head, idx(k, 0)),
                              skv_cmpi_eq(b, k->tile, idx(k, 0)));
  MlirValue writer = skv_andi(b, skv_cmpi_eq(b, k->start, skv_subi(b, len, n)),
                              skv_andi(b, head_0, skv_cmpi_eq(b, k->tid, idx(k, 0))));
  skv_if first;
  skv_if_begin(b, &first, writer);
  MlirValue chunk = to_tok(k, k->chunk);
  MlirValue last_cta =
      skv_divui(b, skv_addi(b, before, skv_addi(b, n, tok(k, -1))), k->span);
  MlirValue count = skv_addi(b, skv_addi(b, last_cta, skv_muli(b, chunk, tok(k, -1))),
                             tok(k, 1));
  MlirValue at = skv_muli(b, k->batch, idx(k, 2));
  skv_store(b, skv_addi(b, chunk, b_tok), k->arg[ARG_chunk_table], at);
  skv_store(b, count, k->arg[ARG_chunk_table], skv_addi(b, at, idx(k, 1)));
  skv_if_end(b, &first);
}

/* The CTA's coordinates and the lane's place again, through copies the
 * compiler cannot hoist (skv_opaque_index): in the balanced kernel's
 * loop over segments, what is computed before it stays live through the
 * streaming loop and spills. */
static void relocate(split_kernel *k) {
  skv_builder *b = k->b;
  k->chunk = skv_opaque_index(b, skv_block_id(b, 'x'));
  place_head(k, skv_opaque_index(b, skv_block_id(b, 'y')));
  k->tid = skv_opaque_index(b, skv_thread_id(b, 'x'));
  place_lane(k);
}

/* Steps 3 to 6 on the segment chunk_bounds or segment_bounds set. */
static void work_segment(split_kernel *k) {
  softmax_state state;
  load_q(k);
  row_bounds(k);
  stream_chunk(k, &state);
  /* Balanced: the sequence and its length read again (from shared memory,
   * L1) rather than held through the streaming loop, which spills. */
  if (k->balanced) {
    relocate(k);
    k->b_tok = skv_load_volatile_i32(k->b, k->arg[SHARED_RANGE], idx(k, RANGE_SEQUENCE));
    k->batch = skv_index_cast(k->b, k->b_tok, skv_type_index(k->b));
    k->len = seq_len(k, k->batch);
  }
  publish_streams(k, &state);
  merge_and_write(k);
}

/* The balanced kernel's steps: each sequence its range meets (step 2a),
 * a segment at a time; a segment with no tokens (an empty sequence, or
 * only the segment cost of one) is skipped, and the combine kernel writes
 * the empty sequences. */
static void work_balanced(split_kernel *k) {
  skv_builder *b = k->b;
  MlirValue first[2];
  first[0] = first_sequence(k, &first[1]);
  /* While sequence b starts inside the range: b and the weight before it
   * are carried; what a segment needs after its streaming loop is read
   * again from shared memory (anything held through that loop spills). */
  skv_while seqs;
  skv_while_begin(b, &seqs, 2, first);
  relocate(k);
  load_range(k);
  skv_while_do(b, &seqs, skv_andi(b, skv_cmpi_slt(b, seqs.carried[0], k->arg[ARG_batch]),
                                  skv_cmpi_slt(b, seqs.carried[1], k->hi)));
  MlirValue b_tok = seqs.body[0], before = seqs.body[1];
  relocate(k);
  load_range(k);
  k->batch = skv_index_cast(b, b_tok, skv_type_index(b));
  k->len = seq_len(k, k->batch);
  MlirValue len = k->len;
  segment_bounds(k, before);
  MlirType carried[2] = {k->i32, k->i32};
  skv_if has_tokens;
  skv_if_values_begin(b, &has_tokens, skv_cmpi_slt(b, k->start, k->end), 2, carried);
  /* Every thread writes the same values, and reads back its own; the
   * barrier below keeps the next segment's writes after these reads. */
  skv_store(b, b_tok, k->arg[SHARED_RANGE], idx(k, RANGE_SEQUENCE));
  skv_store(b, before, k->arg[SHARED_RANGE], idx(k, RANGE_BEFORE));
  if (k->page_size)
    k->page_row = page_row(k);
  work_segment(k);
  MlirValue before_again = skv_load_volatile_i32(b, k->arg[SHARED_RANGE], idx(k, RANGE_BEFORE));
  load_range(k);
  write_chunk_table(k, k->b_tok, k->len, before_again);
  MlirValue then_next[2] = {
      skv_addi(b, k->b_tok, tok(k, 1)),
      skv_addi(b, before_again, seq_weight(k, window_len(k, k->len))),
  };
  /* The next segment's streams write the shared buffers this one read. */
  skv_barrier(b);
  skv_if_values_else(b, &has_tokens, then_next);
  MlirValue else_next[2] = {
      skv_addi(b, b_tok, tok(k, 1)),
      skv_addi(b, before, seq_weight(k, window_len(k, len))),
  };
  skv_if_values_end(b, &has_tokens, else_next);
  MlirValue next[2] = {mlirOperationGetResult(has_tokens.op, 0),
                       mlirOperationGetResult(has_tokens.op, 1)};
  skv_while_end(b, &seqs, next);
}

void skv_codegen_split_kernel(skv_builder *b, MlirBlock module_body, const skv_spec *spec,
                              const skv_kernel_plan *plan, const skv_kernel_desc *kernel) {
  MlirType t = skv_dtype_type(b, spec->dtype);
  MlirType f32 = skv_type_f32(b), i32 = skv_type_i32(b);
  /* A paged spec's kernels take the paged arguments after the others. */
  static const skv_abi_arg args[NUM_PAGED_ARGS] = {SKV_SPLIT_KERNEL_ARGS(SKV_ABI_ARG)
                                                       SKV_SPLIT_PAGED_ARGS(SKV_ABI_ARG)};
  const int n_args = spec->kv_layout == SKV_KV_PAGED ? NUM_PAGED_ARGS : NUM_CONTIGUOUS_ARGS;
  split_kernel k = {.b = b, .spec = spec, .plan = plan};
  k.threads = (int)kernel->threads;
  k.streams = k.threads / 32 / plan->dim_split;
  k.page_size = spec->kv_layout == SKV_KV_PAGED ? spec->page_size : 0;
  k.balanced = kernel->role == SKV_KERNEL_BALANCED;
  k.multi = spec->max_query_len > 1;
  k.blocks = (spec->head_dim / plan->dim_split + 31) / 32;
  k.tail_lanes = spec->head_dim / plan->dim_split % 32 / 8;
  k.halves = plan->upper_rows ? 2 : 1;
  k.i32 = i32;
  k.f32 = f32;
  k.i32x4 = skv_type_vector(i32, 4);
  k.acc_width = 2 * k.halves;
  k.acc = skv_type_vector(f32, k.acc_width);
  k.f32x8 = skv_type_vector(f32, 8);
  k.tx8 = skv_type_vector(t, 8);
  /* The streams' (max, sum) and accumulators, and with dim_split 2 the
   * pairs' slots of S (two parities, two warps). */
  int slots = k.streams * plan->tile_heads, n_shared = 2;
  MlirType shared[4] = {
      skv_type_shared_buffer(b, f32, (int64_t)slots * 2),
      skv_type_shared_buffer(b, f32, (int64_t)slots * spec->head_dim),
  };
  int shared_arg[4] = {SHARED_STATS, SHARED_ACC}; /* where each buffer goes */
  if (plan->dim_split > 1) {
    shared_arg[n_shared] = SHARED_SCORES;
    shared[n_shared++] =
        skv_type_shared_buffer(b, f32, (int64_t)k.streams * skv_pair_stream_floats(plan));
  }
  /* Balanced: the segment's sequence and the CTA's range. */
  if (k.balanced) {
    shared_arg[n_shared] = SHARED_RANGE;
    shared[n_shared++] = skv_type_shared_buffer(b, i32, RANGE_SLOTS);
  }
  MlirValue values[NUM_VALUES];
  skv_kernel_begin(b, module_body, kernel->entry, spec->dtype, n_args, args, n_shared,
                   shared, k.threads, k.balanced ? 0 : plan->split_max_regs, values);
  for (int i = 0; i < n_args; ++i)
    k.arg[i] = values[i];
  for (int i = 0; i < n_shared; ++i)
    k.arg[shared_arg[i]] = values[n_args + i];
  if (k.multi)
    k.q_len = k.arg[ARG_q_len];

  /* The dependent kernel may launch at once: any work before the trigger
   * delays it (docs/perf-log.md §29). */
  if (plan->grid_dependency)
    skv_grid_launch_dependents(b);
  locate(&k);
  /* Every input and output may belong to the kernel before: nothing is
   * read for use before it has completed (a prefetch only warms L2). A
   * balanced CTA learns its tokens only from all the lengths, after it. */
  if (plan->grid_dependency) {
    if (!k.balanced)
      prefetch_first_step(&k);
    skv_grid_wait(b);
  }
  if (k.balanced) {
    work_balanced(&k);
  } else {
    if (k.page_size)
      k.page_row = page_row(&k);
    chunk_bounds(&k, seq_len(&k, k.batch));
    work_segment(&k);
  }
  skv_kernel_end(b);
}
