/* The float64 CPU reference for split-KV decode attention, and the numerics
 * helpers the tests and the bench judge kernels with.
 *
 * Plain C11 with no dependency but libm, so it builds on the GPU machine
 * without MLIR or libyaml. Nothing here allocates or fails: the preconditions
 * stated on each function are the caller's to keep. Every function is
 * reentrant; skv_reference_decode_group may run on several threads at once
 * for distinct (batch, kv head) pairs of one skv_reference_args. */
#ifndef SPLITKV_REFERENCE_H
#define SPLITKV_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "splitkv/spec_fields.h"
#include "splitkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 16-bit floats ------------------------------------------------------ */

/* float -> bf16 / f16 bits, rounding to nearest even; overflow gives inf,
 * NaN stays NaN (quiet) with its sign. */
uint16_t skv_bf16_from_float(float x);
uint16_t skv_f16_from_float(float x);

/* bf16 / f16 bits -> float, exact (subnormals, inf and NaN included). */
float skv_bf16_to_float(uint16_t bits);
float skv_f16_to_float(uint16_t bits);

/* The two above, chosen by dtype. */
uint16_t skv_dtype_from_float(skv_dtype dtype, float x);
float skv_dtype_to_float(skv_dtype dtype, uint16_t bits);

/* ---- 8-bit floats -------------------------------------------------------- */

/* The fp8 formats of KV caches (OCP FP8, as NVIDIA's cvt instructions read
 * them): e4m3 (bias 7, no inf, NaN 0x7F/0xFF, largest 448) and e5m2 (bias
 * 15, IEEE-like inf and NaN, largest 57344). to_float is exact (subnormals
 * included); from_float rounds to nearest even and saturates finite values
 * and infinities to the largest finite code (cvt's .satfinite), NaN stays
 * NaN with its sign. */
float skv_e4m3_to_float(uint8_t bits);
float skv_e5m2_to_float(uint8_t bits);
uint8_t skv_e4m3_from_float(float x);
uint8_t skv_e5m2_from_float(float x);

/* ---- decode attention ---------------------------------------------------- */

/* One decode step of a spec, laid out as in kernel_abi.h: the spec's
 * fields (SKV_SPEC_FIELDS: head_dim, heads, dtype, softmax_scale, ...; a
 * member each, copied from a spec or package record with the same
 * X-macro); q is [batch, num_q_heads, head_dim] contiguous; k element
 * (b, t, h, d) is at b*k_stride_batch + t*k_stride_seq + h*k_stride_head +
 * d, likewise v. All arrays are borrowed. Preconditions: batch >= 0;
 * num_q_heads a positive multiple of num_kv_heads; 1 <= head_dim <=
 * SKV_REFERENCE_MAX_HEAD_DIM; seqlens[b] >= 0 and every token it covers
 * addressable. */
typedef struct skv_reference_args {
  SKV_SPEC_FIELDS(SKV_SPEC_FIELD_MEMBER)
  int batch;
  int q_len; /* query tokens per sequence (0 or 1: one) */
  const uint16_t *q;
  const uint16_t *k;
  const uint16_t *v;
  const int32_t *seqlens;
  int64_t k_stride_batch, k_stride_seq, k_stride_head;
  int64_t v_stride_batch, v_stride_seq, v_stride_head;
  double *out; /* [batch, q_len, num_q_heads, head_dim], written */
  double *lse; /* [batch, q_len, num_q_heads], natural log, written */
} skv_reference_args;

#define SKV_REFERENCE_MAX_HEAD_DIM 1024

/* For every batch b, query token i and q head h (kv head h / G, G =
 * num_q_heads / num_kv_heads): out[b,i,h,:] = softmax(scale *
 * q[b,i,h]·K[b,:,h/G]^T) · V over the keys token i attends to, and
 * lse[b,i,h] = log(sum exp(scale * q·k)) over them. Token i sits at
 * position p = seqlens[b] - q_len + i and attends to keys [0, p] (causal,
 * bottom-right aligned), with a sliding window of W to [p - W + 1, p]
 * only; scores are soft-capped first (logit_softcap C: C·tanh(s / C)).
 * The softmax runs in double with a running maximum, so nothing
 * overflows. A token with no keys gets out 0 and lse -inf. */
void skv_reference_decode(const skv_reference_args *args);

/* The same for the q heads of one (batch b, kv head kv_head) pair only:
 * writes just their rows of args->out and entries of args->lse. The bench
 * uses it to check a subset of a shape too large to compute whole. */
void skv_reference_decode_group(const skv_reference_args *args, int b,
                                int kv_head);

/* ---- LSE merge ----------------------------------------------------------- */

/* Merges num_chunks partial results of one (batch, q head), the math of the
 * combine kernel's chunk merge (docs/design.md): lse = m + log(sum_c exp(lse_c - m)) with m the
 * largest lse_c, out = sum_c exp(lse_c - lse) * out_c. chunk_out is
 * [num_chunks, head_dim]; an empty chunk has lse -inf and contributes
 * nothing; when every chunk is empty (or num_chunks is 0) out is 0 and lse
 * -inf. */
void skv_lse_merge(int num_chunks, int head_dim, const double *chunk_lse,
                   const double *chunk_out, double *out, double *out_lse);

/* ---- error measure -------------------------------------------------------- */

/* ||a - b|| / ||b|| over n values, b being the reference. NaN or inf in
 * either gives +inf, so a comparison against any bound fails. When b is all
 * zero the result is 0 if a is all zero too, else +inf. */
double skv_relative_l2_error(const double *a, const double *b, size_t n);

/* The numerics contract (docs/design.md#numerics): the largest relative L2 error a
 * kernel's output may have against this reference, 1e-2 for bf16 and 2e-3
 * for f16. */
double skv_dtype_error_bound(skv_dtype dtype);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_REFERENCE_H */
