/* The contract between the generated kernels and the runtime (ABI version
 * 7). The compiler (lib/codegen) generates the kernels with exactly these
 * parameters; the runtime (runtime/src) launches them. Change both together and
 * bump SKV_KERNEL_ABI_VERSION.
 *
 * Split kernel "<spec>_split", grid (num_splits, num_kv_heads, batch),
 * block (split_threads), dynamic shared memory split_smem_bytes; where the
 * spec has a wide launch (split_threads_wide > 0) also "<spec>_split_wide"
 * (the split entry's name + "_wide"), the same kernel with twice the
 * token streams: block (split_threads_wide), CTA step 2 * tokens_per_step.
 * Both take:
 *    0 q          T*    [batch, num_q_heads, head_dim], contiguous
 *    1 k          T*    element (b, t, h, d) at b*k_sb + t*k_st + h*k_sh + d
 *    2 v          T*    element (b, t, h, d) at b*v_sb + t*v_st + h*v_sh + d
 *    3 seqlens    i32*  [batch]; sequence b attends to tokens [0, seqlens[b])
 *    4 out        T*    [batch, num_q_heads, head_dim], contiguous
 *    5 lse        f32*  [batch, num_q_heads], natural log (never null: the
 *                       runtime points it at workspace when the caller
 *                       wants none)
 *    6 part_out   f32*  [batch, num_q_heads, num_splits, head_dim]
 *    7 part_lse   f32*  [batch, num_q_heads, num_splits], natural log
 *    8..10        i64   k_sb, k_st, k_sh (strides in elements)
 *   11..13        i64   v_sb, v_st, v_sh
 *   14 num_splits i32
 * Sequence b's tokens are cut into blocks of min(ceil(len / num_splits),
 * the kernel's CTA step) tokens, dealt round-robin: CTA (c, h, b) handles
 * blocks c, c + num_splits, ... (chunk c) for the q heads h*G .. h*G+G-1
 * (G = num_q_heads / num_kv_heads). With num_splits == 1 it writes out and
 * lse itself. Otherwise it writes part_out and part_lse (an empty chunk
 * writes lse -inf and zeros), and the combine kernel runs next.
 *
 * Combine kernel "<spec>_combine", only when num_splits > 1, `lanes` lanes
 * (a power of two, at most 32) per slice of 8 output dims, each taking every
 * lanes-th chunk, SKV_COMBINE_UNROLL chunks' loads at a time: block
 * (combine_threads), no shared memory, grid (num_q_heads * R, batch) with
 * R = head_dim / 8 / (combine_threads / lanes) CTAs per output row (lanes
 * such that this divides); CTA (h * R + p, b) does part p of row (b, h):
 *    0 part_out   f32*  as above
 *    1 part_lse   f32*
 *    2 out        T*
 *    3 lse        f32*
 *    4 num_splits i32
 *    5 lanes      i32
 *    6 late       i32   0: the next kernel may launch at once; 1: only
 *                       after this one's wait (sm_90+; see below)
 * It merges row (b, q head)'s chunks by LSE and writes out and lse (a
 * sequence with no tokens gets out 0, lse -inf).
 *
 * Kernels of images for sm_90 and newer begin with griddepcontrol
 * (launch_dependents, then wait) before using memory, so the runtime
 * launches them with programmatic stream serialization: a call's launch
 * and CTA start overlap the previous kernel's tail, and its reads still see
 * everything that kernel wrote. Between the two, the split kernel reads
 * seqlens[b] as it is then and prefetches into L2 the first step of K and
 * V below that length (a hint: its data is never used, and the length is
 * read again after the wait). The combine kernel with `late` set triggers
 * its dependent (launch_dependents) only after its wait, so the next
 * call's split CTAs take no slot before this call's split kernel has
 * ended. Older targets launch plainly.
 *
 * All pointers are 16-byte aligned and strides are multiples of 8 elements,
 * so every row of head_dim elements starts 16-byte aligned. */
#ifndef SPLITKV_KERNEL_ABI_H
#define SPLITKV_KERNEL_ABI_H

#include "splitkv/target.h"

#define SKV_KERNEL_ABI_VERSION 7u
#define SKV_SPLIT_KERNEL_PARAMS 15
#define SKV_COMBINE_KERNEL_PARAMS 7
/* Chunks a combine lane loads at once. */
#define SKV_COMBINE_UNROLL 6

#endif /* SPLITKV_KERNEL_ABI_H */
