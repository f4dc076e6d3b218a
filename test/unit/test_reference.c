/* Unit test of the float64 reference: 16-bit float conversions, decode
 * attention on hand-computed cases, and the relative L2 error. */
#include "splitkv/reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define CHECK_NEAR(a, b, tol)                                                  \
  CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.17g vs %.17g",      \
            (double)(a), (double)(b))

/* A deterministic generator, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
static float rng_uniform(float lo, float hi) {
  return lo + (hi - lo) * (float)((rng_next() >> 40) * 0x1p-24);
}

static float float_from_bits(uint32_t bits) {
  float x;
  memcpy(&x, &bits, sizeof x);
  return x;
}

/* ---- conversions ---------------------------------------------------------- */

static void test_bf16_cases(void) {
  printf("test_bf16_cases\n");
  CHECK_MSG(skv_bf16_from_float(1.0f) == 0x3F80, "1.0");
  CHECK_MSG(skv_bf16_from_float(-2.0f) == 0xC000, "-2.0");
  CHECK_MSG(skv_bf16_from_float(0.0f) == 0x0000, "+0");
  CHECK_MSG(skv_bf16_from_float(-0.0f) == 0x8000, "-0");
  /* 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7: down. */
  CHECK_MSG(skv_bf16_from_float(1.0f + 0x1p-8f) == 0x3F80, "tie to even, down");
  /* 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up. */
  CHECK_MSG(skv_bf16_from_float(1.0f + 3 * 0x1p-8f) == 0x3F82, "tie to even, up");
  CHECK_MSG(skv_bf16_from_float(1.0f + 0x1p-8f + 0x1p-20f) == 0x3F81,
        "above the tie");
  CHECK_MSG(skv_bf16_from_float(INFINITY) == 0x7F80, "inf");
  CHECK_MSG(skv_bf16_from_float(-INFINITY) == 0xFF80, "-inf");
  CHECK_MSG(skv_bf16_from_float(3.4028235e38f) == 0x7F80, "FLT_MAX overflows");
  /* A NaN whose payload sits only in the low 16 bits must not become inf. */
  uint16_t nan_bits = skv_bf16_from_float(float_from_bits(0x7F800001u));
  CHECK_MSG((nan_bits & 0x7F80) == 0x7F80 && (nan_bits & 0x7F) != 0,
        "NaN stays NaN: %04x", nan_bits);
  CHECK_MSG(isnan(skv_bf16_to_float(0x7FC0)), "NaN decodes");
  CHECK_MSG(skv_bf16_to_float(0x0001) == 0x1p-133f, "smallest subnormal");
  CHECK_MSG(skv_dtype_from_float(SKV_DTYPE_BF16, 1.0f) == 0x3F80, "dtype dispatch");
}

static void test_f16_cases(void) {
  printf("test_f16_cases\n");
  CHECK_MSG(skv_f16_from_float(1.0f) == 0x3C00, "1.0");
  CHECK_MSG(skv_f16_from_float(-2.0f) == 0xC000, "-2.0");
  CHECK_MSG(skv_f16_from_float(-0.0f) == 0x8000, "-0");
  CHECK_MSG(skv_f16_from_float(65504.0f) == 0x7BFF, "max");
  CHECK_MSG(skv_f16_from_float(65519.0f) == 0x7BFF, "below the overflow tie");
  CHECK_MSG(skv_f16_from_float(65520.0f) == 0x7C00, "overflow tie goes to inf");
  CHECK_MSG(skv_f16_from_float(1e10f) == 0x7C00, "overflow");
  CHECK_MSG(skv_f16_from_float(-INFINITY) == 0xFC00, "-inf");
  CHECK_MSG(skv_f16_from_float(0x1p-14f) == 0x0400, "smallest normal");
  CHECK_MSG(skv_f16_from_float(0x1p-24f) == 0x0001, "smallest subnormal");
  CHECK_MSG(skv_f16_from_float(0x1p-25f) == 0x0000, "tie to even zero");
  CHECK_MSG(skv_f16_from_float(0x1p-25f * 1.001f) == 0x0001, "above the tie");
  CHECK_MSG(skv_f16_from_float(1.5f * 0x1p-24f) == 0x0002, "subnormal tie up");
  CHECK_MSG(skv_f16_from_float(2.5f * 0x1p-24f) == 0x0002, "subnormal tie down");
  CHECK_MSG(skv_f16_from_float(1023 * 0x1p-24f) == 0x03FF, "largest subnormal");
  CHECK_MSG(skv_f16_from_float(1023.5f * 0x1p-24f) == 0x0400,
        "rounds up into the normals");
  CHECK_MSG(skv_f16_from_float(1.0f + 0x1p-11f) == 0x3C00, "tie to even, down");
  CHECK_MSG(skv_f16_from_float(1.0f + 3 * 0x1p-11f) == 0x3C02, "tie to even, up");
  uint16_t nan_bits = skv_f16_from_float(NAN);
  CHECK_MSG((nan_bits & 0x7C00) == 0x7C00 && (nan_bits & 0x3FF) != 0,
        "NaN stays NaN: %04x", nan_bits);
  CHECK_MSG(skv_f16_to_float(0x0001) == 0x1p-24f, "subnormal decodes");
  CHECK_MSG(skv_f16_to_float(0x83FF) == -1023 * 0x1p-24f, "negative subnormal");
  CHECK_MSG(skv_f16_to_float(0x7C00) == INFINITY, "inf decodes");
  CHECK_MSG(isnan(skv_f16_to_float(0x7E00)), "NaN decodes");
  CHECK_MSG(skv_dtype_to_float(SKV_DTYPE_F16, 0x3C00) == 1.0f, "dtype dispatch");
}

/* Every 16-bit pattern survives to_float -> from_float (NaN as some NaN). */
static void test_round_trips(skv_dtype dtype) {
  printf("test_round_trips(%s)\n", dtype == SKV_DTYPE_BF16 ? "bf16" : "f16");
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    float x = skv_dtype_to_float(dtype, (uint16_t)bits);
    uint16_t back = skv_dtype_from_float(dtype, x);
    if (isnan(x))
      CHECK_MSG(isnan(skv_dtype_to_float(dtype, back)), "NaN %04x", bits);
    else
      CHECK_MSG(back == bits, "%04x -> %g -> %04x", bits, x, back);
  }
}

/* Random floats round to the nearest representable value, ties to even:
 * checked against the neighbours of the result, in double. */
static void test_nearest_even(skv_dtype dtype) {
  printf("test_nearest_even(%s)\n", dtype == SKV_DTYPE_BF16 ? "bf16" : "f16");
  for (int i = 0; i < 200000; ++i) {
    /* Magnitudes across the whole f16 range, subnormals included. */
    float x = ldexpf(rng_uniform(-1.0f, 1.0f), (int)(rng_next() % 42) - 26);
    uint16_t h = skv_dtype_from_float(dtype, x);
    double err = fabs((double)x - skv_dtype_to_float(dtype, h));
    /* Neighbours in magnitude: same sign, one unit either side. */
    uint16_t mag = h & 0x7FFF;
    uint16_t sign = h & 0x8000;
    for (int step = -1; step <= 1; step += 2) {
      if ((mag == 0 && step < 0) || mag == 0x7FFF)
        continue;
      double other = skv_dtype_to_float(dtype, (uint16_t)(sign | (mag + step)));
      if (!isfinite(other))
        continue;
      double other_err = fabs((double)x - other);
      CHECK_MSG(err < other_err || (err == other_err && (h & 1) == 0),
            "%.9g -> %04x (err %g), neighbour err %g", x, h, err, other_err);
    }
  }
}

/* fp8: known codes, every code's round trip, ties to even, saturation, and
 * random floats against a linear scan for the nearest code. */
static void test_fp8(void) {
  printf("test_fp8\n");
  CHECK(skv_e4m3_to_float(0x38) == 1.0f && skv_e5m2_to_float(0x3C) == 1.0f);
  CHECK(skv_e4m3_to_float(0x7E) == 448.0f && skv_e5m2_to_float(0x7B) == 57344.0f);
  CHECK(skv_e4m3_to_float(0x01) == 0x1p-9f && skv_e5m2_to_float(0x01) == 0x1p-16f);
  CHECK(skv_e4m3_to_float(0x08) == 0x1p-6f && skv_e5m2_to_float(0x04) == 0x1p-14f);
  CHECK(isnan(skv_e4m3_to_float(0x7F)) && isnan(skv_e4m3_to_float(0xFF)));
  CHECK(skv_e5m2_to_float(0x7C) == INFINITY && isnan(skv_e5m2_to_float(0x7E)));
  CHECK(skv_e4m3_to_float(0xB8) == -1.0f);
  for (int c = 0; c < 256; ++c) {
    float a = skv_e4m3_to_float((uint8_t)c), b = skv_e5m2_to_float((uint8_t)c);
    if (!isnan(a))
      CHECK_MSG(skv_e4m3_from_float(a) == c, "e4m3 code 0x%02x", c);
    if (isfinite(b))
      CHECK_MSG(skv_e5m2_from_float(b) == c, "e5m2 code 0x%02x", c);
  }
  /* 1.0625 lies halfway between 1 (0x38, even) and 1.125 (0x39); 1.1875
   * between 0x39 and 1.25 (0x3A, even). */
  CHECK(skv_e4m3_from_float(1.0625f) == 0x38 && skv_e4m3_from_float(1.1875f) == 0x3A);
  CHECK(skv_e4m3_from_float(1000.0f) == 0x7E && skv_e4m3_from_float(-INFINITY) == 0xFE);
  CHECK(skv_e5m2_from_float(1e6f) == 0x7B && skv_e5m2_from_float(INFINITY) == 0x7B);
  CHECK(isnan(skv_e4m3_to_float(skv_e4m3_from_float(NAN))));
  CHECK(isnan(skv_e5m2_to_float(skv_e5m2_from_float(NAN))));
  for (int i = 0; i < 20000; ++i) {
    float x = rng_uniform(-1, 1) * ldexpf(1.0f, (int)(rng_next() % 40) - 20);
    for (int format = 0; format < 2; ++format) {
      float (*to)(uint8_t) = format ? skv_e5m2_to_float : skv_e4m3_to_float;
      uint8_t got = format ? skv_e5m2_from_float(x) : skv_e4m3_from_float(x);
      float best = INFINITY;
      for (int c = 0; c < 256; ++c)
        if (isfinite(to((uint8_t)c)) && fabsf(to((uint8_t)c) - x) < best)
          best = fabsf(to((uint8_t)c) - x);
      CHECK_MSG(fabsf(to(got) - x) == best, "%s of %g: 0x%02x", format ? "e5m2" : "e4m3", x,
                got);
    }
  }
}

/* ---- decode ---------------------------------------------------------------- */

/* A small problem in [batch, seq, head, dim] layout, with room for the
 * tests to fill. */
typedef struct problem {
  skv_reference_args args;
  uint16_t q[4096];
  uint16_t k[8192];
  uint16_t v[8192];
  int32_t seqlens[8];
  double out[4096];
  double lse[64];
} problem;

static void problem_init(problem *p, int batch, int heads, int kv_heads,
                         int dim, int seq_cap, double scale) {
  memset(p, 0, sizeof *p);
  skv_reference_args *a = &p->args;
  a->dtype = SKV_DTYPE_BF16;
  a->batch = batch;
  a->num_q_heads = heads;
  a->num_kv_heads = kv_heads;
  a->head_dim = dim;
  a->softmax_scale = scale;
  a->q = p->q;
  a->k = p->k;
  a->v = p->v;
  a->seqlens = p->seqlens;
  a->k_stride_head = a->v_stride_head = dim;
  a->k_stride_seq = a->v_stride_seq = (int64_t)kv_heads * dim;
  a->k_stride_batch = a->v_stride_batch = (int64_t)seq_cap * kv_heads * dim;
  a->out = p->out;
  a->lse = p->lse;
}

static uint16_t *kv_at(problem *p, uint16_t *base, int b, int t, int h) {
  const skv_reference_args *a = &p->args;
  return base + b * a->k_stride_batch + t * a->k_stride_seq +
         h * a->k_stride_head;
}

static void set_row(uint16_t *row, const float *values, int n) {
  for (int i = 0; i < n; ++i)
    row[i] = skv_bf16_from_float(values[i]);
}

static void test_two_tokens(void) {
  printf("test_two_tokens\n");
  static problem p;
  problem_init(&p, 1, 1, 1, 2, 2, 1.0);
  p.seqlens[0] = 2;
  set_row(p.q, (float[]){1, 0}, 2);
  set_row(kv_at(&p, p.k, 0, 0, 0), (float[]){1, 5}, 2); /* score 1 */
  set_row(kv_at(&p, p.k, 0, 1, 0), (float[]){0, 7}, 2); /* score 0 */
  set_row(kv_at(&p, p.v, 0, 0, 0), (float[]){1, 0}, 2);
  set_row(kv_at(&p, p.v, 0, 1, 0), (float[]){0, 2}, 2);
  skv_reference_decode(&p.args);
  double e = exp(1.0);
  CHECK_NEAR(p.out[0], e / (e + 1), 1e-15);
  CHECK_NEAR(p.out[1], 2 / (e + 1), 1e-15);
  CHECK_NEAR(p.lse[0], log(e + 1), 1e-15);

  /* The scale multiplies the scores: 0.5 gives scores 0.5 and 0. */
  p.args.softmax_scale = 0.5;
  skv_reference_decode(&p.args);
  double s = exp(0.5);
  CHECK_NEAR(p.out[0], s / (s + 1), 1e-15);
  CHECK_NEAR(p.lse[0], log(s + 1), 1e-15);

  /* A soft cap of 0.25 turns the scores 0.5 and 0 into 0.25 tanh(2) and 0. */
  p.args.logit_softcap = 0.25f;
  skv_reference_decode(&p.args);
  double c = exp(0.25 * tanh(2.0));
  CHECK_NEAR(p.out[0], c / (c + 1), 1e-15);
  CHECK_NEAR(p.lse[0], log(c + 1), 1e-15);

  /* A window of one token: the query at position 1 sees key 1 only. */
  p.args.logit_softcap = 0.0f;
  p.args.sliding_window = 1;
  skv_reference_decode(&p.args);
  CHECK_NEAR(p.out[0], 0.0, 1e-15);
  CHECK_NEAR(p.out[1], 2.0, 1e-15);
  CHECK_NEAR(p.lse[0], 0.0, 1e-15);
  /* A window as long as the sequence, or longer, is no window. */
  p.args.sliding_window = 2;
  skv_reference_decode(&p.args);
  CHECK_NEAR(p.out[0], s / (s + 1), 1e-15);
}

/* One token's score dwarfs the others: the output is its value row. Scores
 * of +-100 would overflow exp() without the running maximum. */
static void test_one_hot(void) {
  printf("test_one_hot\n");
  static problem p;
  const int n = 9;
  problem_init(&p, 1, 1, 1, 4, n, 1.0);
  p.seqlens[0] = n;
  set_row(p.q, (float[]){100, 0, 0, 0}, 4);
  for (int t = 0; t < n; ++t) {
    set_row(kv_at(&p, p.k, 0, t, 0), (float[]){t == 5 ? 1.0f : -1.0f, 0, 0, 0},
            4);
    set_row(kv_at(&p, p.v, 0, t, 0), (float[]){(float)t, 1, -(float)t, 0.5f},
            4);
  }
  skv_reference_decode(&p.args);
  CHECK_NEAR(p.out[0], 5.0, 1e-12);
  CHECK_NEAR(p.out[1], 1.0, 1e-12);
  CHECK_NEAR(p.out[2], -5.0, 1e-12);
  CHECK_NEAR(p.out[3], 0.5, 1e-12);
  CHECK_NEAR(p.lse[0], 100.0 + log1p((n - 1) * exp(-200.0)), 1e-12);
}

/* A sequence with no tokens gives 0 and -inf, next to one that has some. */
static void test_seqlen_zero(void) {
  printf("test_seqlen_zero\n");
  static problem p;
  problem_init(&p, 2, 1, 1, 2, 1, 1.0);
  p.seqlens[0] = 0;
  p.seqlens[1] = 1;
  set_row(p.q, (float[]){1, 1, 1, 1}, 4);
  set_row(kv_at(&p, p.k, 0, 0, 0), (float[]){9, 9}, 2); /* not a token */
  set_row(kv_at(&p, p.v, 0, 0, 0), (float[]){9, 9}, 2);
  set_row(kv_at(&p, p.k, 1, 0, 0), (float[]){1, 2}, 2);
  set_row(kv_at(&p, p.v, 1, 0, 0), (float[]){3, -4}, 2);
  p.out[0] = p.out[1] = NAN; /* must be overwritten */
  skv_reference_decode(&p.args);
  CHECK_MSG(p.out[0] == 0.0 && p.out[1] == 0.0, "%g %g", p.out[0], p.out[1]);
  CHECK_MSG(p.lse[0] == -INFINITY, "%g", p.lse[0]);
  CHECK_NEAR(p.out[2], 3.0, 0);
  CHECK_NEAR(p.out[3], -4.0, 0);
  CHECK_NEAR(p.lse[1], 3.0, 0);
}

/* q head h reads kv head h / G, also for G larger than the heads the
 * reference handles per pass. */
static void test_gqa_mapping(int heads, int kv_heads) {
  printf("test_gqa_mapping(%d, %d)\n", heads, kv_heads);
  static problem p;
  const int dim = 8, n = 3;
  problem_init(&p, 2, heads, kv_heads, dim, n, 0.3);
  p.seqlens[0] = n;
  p.seqlens[1] = 2;
  for (int i = 0; i < 2 * heads * dim; ++i)
    p.q[i] = skv_bf16_from_float(rng_uniform(-1, 1));
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < kv_heads; ++h)
        for (int d = 0; d < dim; ++d) {
          kv_at(&p, p.k, b, t, h)[d] = skv_bf16_from_float(rng_uniform(-1, 1));
          /* Every value row of kv head h is 10*b + h: the output must be
           * exactly that whatever the weights. */
          kv_at(&p, p.v, b, t, h)[d] = skv_bf16_from_float((float)(10 * b + h));
        }
  skv_reference_decode(&p.args);
  const int group = heads / kv_heads;
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < heads; ++h)
      for (int d = 0; d < dim; ++d)
        CHECK_NEAR(p.out[(b * heads + h) * dim + d], 10 * b + h / group, 1e-12);
}

/* Several query tokens: token i of a call of q_len on a sequence of len
 * tokens is a one-token call on the first len - q_len + i + 1 (causal,
 * bottom-right aligned), with and without a window; a token before the
 * sequence's start sees no key (out 0, lse -inf). */
static void test_query_tokens(int window) {
  printf("test_query_tokens(window %d)\n", window);
  enum { q_len = 3, heads = 4, kv_heads = 2, dim = 8, cap = 9 };
  static problem many, one;
  problem_init(&many, 2, heads, kv_heads, dim, cap, 0.4);
  many.args.q_len = q_len;
  many.args.sliding_window = window;
  many.seqlens[0] = 7;
  many.seqlens[1] = 2; /* token 0 sits before the sequence */
  for (int i = 0; i < 2 * q_len * heads * dim; ++i)
    many.q[i] = skv_bf16_from_float(rng_uniform(-2, 2));
  for (int i = 0; i < 2 * cap * kv_heads * dim; ++i) {
    many.k[i] = skv_bf16_from_float(rng_uniform(-2, 2));
    many.v[i] = skv_bf16_from_float(rng_uniform(-2, 2));
  }
  skv_reference_decode(&many.args);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < q_len; ++i) {
      int len = many.seqlens[b] - q_len + i + 1;
      problem_init(&one, 1, heads, kv_heads, dim, cap, 0.4);
      one.args.sliding_window = window;
      one.seqlens[0] = len > 0 ? len : 0;
      memcpy(one.q, many.q + (b * q_len + i) * heads * dim, sizeof(uint16_t) * heads * dim);
      memcpy(one.k, many.k + b * many.args.k_stride_batch,
             sizeof(uint16_t) * cap * kv_heads * dim);
      memcpy(one.v, many.v + b * many.args.v_stride_batch,
             sizeof(uint16_t) * cap * kv_heads * dim);
      skv_reference_decode(&one.args);
      for (int h = 0; h < heads; ++h) {
        const int row = (b * q_len + i) * heads + h;
        CHECK_MSG(one.lse[h] == many.lse[row], "b %d token %d head %d: lse %g vs %g", b, i,
                  h, many.lse[row], one.lse[h]);
        for (int d = 0; d < dim; ++d)
          CHECK_MSG(one.out[h * dim + d] == many.out[row * dim + d],
                    "b %d token %d head %d dim %d", b, i, h, d);
      }
      if (len <= 0)
        CHECK_MSG(many.lse[(b * q_len + i) * heads] == -INFINITY, "no keys: lse -inf");
    }
}

/* The same attention stored [b, s, h, d] and [b, h, s, d], each with a
 * sequence capacity larger than the longest sequence, gives bitwise the same
 * result, which matches a plain two-pass softmax written here. */
static void test_layouts_agree(void) {
  printf("test_layouts_agree\n");
  enum { batch = 2, heads = 6, kv_heads = 3, dim = 16, cap = 11 };
  static problem bshd, bhsd;
  problem_init(&bshd, batch, heads, kv_heads, dim, cap, 0.25);
  bshd.args.dtype = SKV_DTYPE_F16;
  bshd.seqlens[0] = 7;
  bshd.seqlens[1] = 10;
  for (int i = 0; i < batch * heads * dim; ++i)
    bshd.q[i] = skv_f16_from_float(rng_uniform(-2, 2));
  for (int i = 0; i < batch * cap * kv_heads * dim; ++i) {
    bshd.k[i] = skv_f16_from_float(rng_uniform(-2, 2));
    bshd.v[i] = skv_f16_from_float(rng_uniform(-2, 2));
  }
  bhsd = bshd;
  skv_reference_args *a = &bhsd.args;
  a->q = bhsd.q;
  a->k = bhsd.k;
  a->v = bhsd.v;
  a->seqlens = bhsd.seqlens;
  a->out = bhsd.out;
  a->lse = bhsd.lse;
  a->k_stride_seq = a->v_stride_seq = dim;
  a->k_stride_head = a->v_stride_head = (int64_t)cap * dim;
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < cap; ++t)
      for (int h = 0; h < kv_heads; ++h)
        for (int d = 0; d < dim; ++d) {
          int64_t from = ((int64_t)(b * cap + t) * kv_heads + h) * dim + d;
          int64_t to = ((int64_t)(b * kv_heads + h) * cap + t) * dim + d;
          bhsd.k[to] = bshd.k[from];
          bhsd.v[to] = bshd.v[from];
        }
  skv_reference_decode(&bshd.args);
  skv_reference_decode(&bhsd.args);
  CHECK_MSG(memcmp(bshd.out, bhsd.out, sizeof bshd.out) == 0, "out differs");
  CHECK_MSG(memcmp(bshd.lse, bhsd.lse, sizeof bshd.lse) == 0, "lse differs");

  /* Two passes: the maximum, then the weights. */
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h) {
      int kvh = h / (heads / kv_heads);
      double scores[cap], max = -INFINITY, sum = 0, out[dim] = {0};
      for (int t = 0; t < bshd.seqlens[b]; ++t) {
        scores[t] = 0;
        for (int d = 0; d < dim; ++d)
          scores[t] += skv_f16_to_float(bshd.q[(b * heads + h) * dim + d]) *
                       skv_f16_to_float(kv_at(&bshd, bshd.k, b, t, kvh)[d]);
        scores[t] *= 0.25;
        max = fmax(max, scores[t]);
      }
      for (int t = 0; t < bshd.seqlens[b]; ++t) {
        double w = exp(scores[t] - max);
        sum += w;
        for (int d = 0; d < dim; ++d)
          out[d] += w * skv_f16_to_float(kv_at(&bshd, bshd.v, b, t, kvh)[d]);
      }
      for (int d = 0; d < dim; ++d)
        CHECK_NEAR(bshd.out[(b * heads + h) * dim + d], out[d] / sum, 1e-13);
      CHECK_NEAR(bshd.lse[b * heads + h], max + log(sum), 1e-13);
    }
}

/* ---- relative L2 ------------------------------------------------------------ */

static void test_relative_l2(void) {
  printf("test_relative_l2\n");
  double ref[4] = {3, 0, 4, 0};
  double same[4] = {3, 0, 4, 0};
  double off[4] = {3, 0, 4, 0.5};
  double zero[4] = {0, 0, 0, 0};
  CHECK_MSG(skv_relative_l2_error(same, ref, 4) == 0.0, "equal");
  CHECK_NEAR(skv_relative_l2_error(off, ref, 4), 0.1, 1e-15);
  CHECK_MSG(skv_relative_l2_error(zero, zero, 4) == 0.0, "both zero");
  CHECK_MSG(skv_relative_l2_error(ref, zero, 4) == INFINITY, "reference zero");
  double nan_at_end[4] = {3, 0, 4, NAN};
  CHECK_MSG(skv_relative_l2_error(nan_at_end, ref, 4) == INFINITY, "NaN");
  CHECK_MSG(!(skv_relative_l2_error(nan_at_end, ref, 4) <= 1e-2), "NaN fails");
  double inf_in_ref[4] = {INFINITY, 0, 0, 0};
  CHECK_MSG(skv_relative_l2_error(ref, inf_in_ref, 4) == INFINITY, "inf");
}

int main(void) {
  test_bf16_cases();
  test_f16_cases();
  test_round_trips(SKV_DTYPE_BF16);
  test_round_trips(SKV_DTYPE_F16);
  test_nearest_even(SKV_DTYPE_BF16);
  test_nearest_even(SKV_DTYPE_F16);
  test_fp8();
  test_two_tokens();
  test_one_hot();
  test_seqlen_zero();
  test_gqa_mapping(4, 2);
  test_gqa_mapping(20, 2); /* more q heads per kv head than one pass */
  test_gqa_mapping(8, 8);
  test_query_tokens(0);
  test_query_tokens(2);
  test_layouts_agree();
  test_relative_l2();
  if (failures) {
    fprintf(stderr, "test_reference: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_reference: OK\n");
  return 0;
}
