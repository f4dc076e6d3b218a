/* Unit test of the LSE merge: cutting a reference computation into chunks
 * the way the split kernel does (ceil(len / splits) tokens each) and merging
 * them reproduces the unsplit result; empty chunks and all-empty inputs. */
#include "splitkv/reference.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float rng_uniform(float lo, float hi) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return lo + (hi - lo) * (float)((rng_state >> 40) * 0x1p-24);
}

enum { kHeads = 4, kKvHeads = 2, kDim = 32, kMaxLen = 300, kMaxSplits = 16 };

static uint16_t q[kHeads * kDim];
static uint16_t k[kMaxLen * kKvHeads * kDim];
static uint16_t v[kMaxLen * kKvHeads * kDim];

/* One sequence of len tokens ([seq, head, dim]), or a chunk of it starting at
 * token first: a chunk is the same problem with K and V offset. */
static skv_reference_args make_args(int32_t *seqlen, int first, double *out,
                                    double *lse) {
  skv_reference_args a;
  memset(&a, 0, sizeof a);
  a.dtype = SKV_DTYPE_BF16;
  a.batch = 1;
  a.num_q_heads = kHeads;
  a.num_kv_heads = kKvHeads;
  a.head_dim = kDim;
  a.softmax_scale = 1.0 / sqrt((double)kDim);
  a.q = q;
  a.k_stride_seq = a.v_stride_seq = kKvHeads * kDim;
  a.k_stride_head = a.v_stride_head = kDim;
  a.k_stride_batch = a.v_stride_batch = (int64_t)kMaxLen * kKvHeads * kDim;
  a.k = k + first * a.k_stride_seq;
  a.v = v + first * a.v_stride_seq;
  a.seqlens = seqlen;
  a.out = out;
  a.lse = lse;
  return a;
}

static void test_split_merge(int len, int splits, float score_spread) {
  printf("test_split_merge(len %d, splits %d, spread %g)\n", len, splits,
         score_spread);
  for (int i = 0; i < kHeads * kDim; ++i)
    q[i] = skv_bf16_from_float(rng_uniform(-score_spread, score_spread));
  for (int i = 0; i < len * kKvHeads * kDim; ++i) {
    k[i] = skv_bf16_from_float(rng_uniform(-1, 1));
    v[i] = skv_bf16_from_float(rng_uniform(-1, 1));
  }

  int32_t full_len = len;
  double full_out[kHeads * kDim], full_lse[kHeads];
  skv_reference_args full = make_args(&full_len, 0, full_out, full_lse);
  skv_reference_decode(&full);

  /* part_out [head, split, dim] and part_lse [head, split], as the split
   * kernel leaves them. */
  static double part_out[kHeads][kMaxSplits][kDim];
  static double part_lse[kHeads][kMaxSplits];
  const int chunk = (len + splits - 1) / splits;
  for (int c = 0; c < splits; ++c) {
    int first = c * chunk < len ? c * chunk : len;
    int32_t chunk_len = len - first < chunk ? len - first : chunk;
    double out[kHeads * kDim], lse[kHeads];
    skv_reference_args part = make_args(&chunk_len, first, out, lse);
    skv_reference_decode(&part);
    for (int h = 0; h < kHeads; ++h) {
      memcpy(part_out[h][c], out + h * kDim, sizeof part_out[h][c]);
      part_lse[h][c] = lse[h];
    }
  }

  for (int h = 0; h < kHeads; ++h) {
    double out[kDim], lse;
    skv_lse_merge(splits, kDim, part_lse[h], &part_out[h][0][0], out, &lse);
    if (len == 0) {
      CHECK_MSG(lse == -INFINITY, "head %d lse %g", h, lse);
      for (int d = 0; d < kDim; ++d)
        CHECK_MSG(out[d] == 0.0, "head %d out[%d] %g", h, d, out[d]);
      continue;
    }
    double err = skv_relative_l2_error(out, full_out + h * kDim, kDim);
    CHECK_MSG(err <= 1e-12, "head %d relative L2 %g", h, err);
    CHECK_MSG(fabs(lse - full_lse[h]) <= 1e-12 * fmax(1.0, fabs(full_lse[h])),
          "head %d lse %.17g vs %.17g", h, lse, full_lse[h]);
  }
}

/* Two chunks with sums 1 and 3: weights 1/4 and 3/4, lse log 4. */
static void test_hand_case(void) {
  printf("test_hand_case\n");
  double lse_in[2] = {0.0, log(3.0)};
  double out_in[2][2] = {{4, 0}, {0, 8}};
  double out[2], lse;
  skv_lse_merge(2, 2, lse_in, &out_in[0][0], out, &lse);
  CHECK_MSG(fabs(lse - log(4.0)) <= 1e-15, "lse %.17g", lse);
  CHECK_MSG(fabs(out[0] - 1.0) <= 1e-15 && fabs(out[1] - 6.0) <= 1e-15,
        "out %g %g", out[0], out[1]);
}

/* Empty chunks (lse -inf) contribute nothing, whatever their out holds. */
static void test_empty_chunks(void) {
  printf("test_empty_chunks\n");
  double lse_in[4] = {-INFINITY, 2.0, -INFINITY, -INFINITY};
  double out_in[4][2] = {{NAN, NAN}, {1, -1}, {INFINITY, 0}, {0, 0}};
  double out[2], lse;
  skv_lse_merge(4, 2, lse_in, &out_in[0][0], out, &lse);
  CHECK_MSG(lse == 2.0, "lse %.17g", lse);
  CHECK_MSG(out[0] == 1.0 && out[1] == -1.0, "out %g %g", out[0], out[1]);
}

static void test_all_empty(void) {
  printf("test_all_empty\n");
  double lse_in[3] = {-INFINITY, -INFINITY, -INFINITY};
  double out_in[3][2] = {{0, 0}, {0, 0}, {0, 0}};
  double out[2] = {NAN, NAN}, lse = 0;
  skv_lse_merge(3, 2, lse_in, &out_in[0][0], out, &lse);
  CHECK_MSG(lse == -INFINITY && out[0] == 0.0 && out[1] == 0.0, "%g %g %g", lse,
        out[0], out[1]);
  out[0] = out[1] = NAN;
  skv_lse_merge(0, 2, lse_in, &out_in[0][0], out, &lse);
  CHECK_MSG(lse == -INFINITY && out[0] == 0.0 && out[1] == 0.0, "no chunks");
}

/* A NaN chunk poisons the result instead of vanishing. */
static void test_nan_propagates(void) {
  printf("test_nan_propagates\n");
  double lse_in[2] = {1.0, NAN};
  double out_in[2][1] = {{1}, {1}};
  double out[1], lse;
  skv_lse_merge(2, 1, lse_in, &out_in[0][0], out, &lse);
  CHECK_MSG(isnan(lse) && isnan(out[0]), "%g %g", lse, out[0]);
}

int main(void) {
  test_hand_case();
  test_empty_chunks();
  test_all_empty();
  test_nan_propagates();
  test_split_merge(1, 1, 1.0f);
  test_split_merge(17, 2, 1.0f);
  test_split_merge(17, 7, 1.0f);  /* last chunk empty */
  test_split_merge(5, 7, 1.0f);   /* fewer tokens than splits */
  test_split_merge(2, 16, 1.0f);
  test_split_merge(300, 7, 1.0f);
  test_split_merge(300, 16, 30.0f); /* peaky scores, chunk maxima far apart */
  test_split_merge(256, 4, 0.01f);  /* almost uniform weights */
  test_split_merge(0, 3, 1.0f);     /* every chunk empty */
  if (failures) {
    fprintf(stderr, "test_merge: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_merge: OK\n");
  return 0;
}
