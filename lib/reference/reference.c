/* The float64 CPU reference: 16-bit float conversions, decode attention,
 * the LSE merge and the relative L2 error (see include/splitkv/reference.h). */
#include "splitkv/reference.h"

#include <math.h>
#include <string.h>

/* ---- 16-bit floats ------------------------------------------------------ */

static uint32_t skv_float_bits(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  return bits;
}

static float skv_float_from_bits(uint32_t bits) {
  float x;
  memcpy(&x, &bits, sizeof x);
  return x;
}

uint16_t skv_bf16_from_float(float x) {
  uint32_t bits = skv_float_bits(x);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) /* NaN: truncating could give inf */
    return (uint16_t)((bits >> 16) | 0x0040u);
  /* Adding 0x7FFF plus the kept LSB rounds to nearest even; a carry out of
   * the mantissa bumps the exponent, which also turns overflow into inf. */
  uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return (uint16_t)((bits + rounding) >> 16);
}

float skv_bf16_to_float(uint16_t bits) {
  return skv_float_from_bits((uint32_t)bits << 16);
}

/* Shifts mantissa right by shift (1..31) rounding to nearest even. */
static uint32_t skv_shift_round_even(uint32_t mantissa, int shift) {
  uint32_t kept = mantissa >> shift;
  uint32_t rest = mantissa & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u)))
    kept++;
  return kept;
}

uint16_t skv_f16_from_float(float x) {
  uint32_t bits = skv_float_bits(x);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
  uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits > 0x7F800000u) /* NaN: keep the top payload bits, force quiet */
    return (uint16_t)(sign | 0x7E00u | ((abs_bits >> 13) & 0x3FFu));
  /* 65520 is halfway between 65504 (the largest f16, odd mantissa) and
   * 2^16: it and everything above round to inf. */
  if (abs_bits >= 0x477FF000u)
    return (uint16_t)(sign | 0x7C00u);
  if (abs_bits >= 0x38800000u) { /* normal in f16: >= 2^-14 */
    uint32_t exponent = (abs_bits >> 23) - 127u + 15u;
    uint32_t mantissa = abs_bits & 0x7FFFFFu;
    /* A carry out of the rounded mantissa correctly bumps the exponent. */
    uint32_t rounded = (exponent << 10) + skv_shift_round_even(mantissa, 13);
    return (uint16_t)(sign | rounded);
  }
  /* 2^-25 is halfway between 0 and the smallest subnormal 2^-24: even is 0. */
  if (abs_bits <= 0x33000000u)
    return sign;
  /* Subnormal: the result is the value in units of 2^-24. With the implicit
   * bit restored, value = mantissa * 2^(e - 150), so the units are
   * mantissa >> (126 - e); e is in [102, 112], the shift in [14, 24]. A
   * round-up to 0x400 is exactly the smallest normal. */
  uint32_t e = abs_bits >> 23;
  uint32_t mantissa = (abs_bits & 0x7FFFFFu) | 0x800000u;
  return (uint16_t)(sign | skv_shift_round_even(mantissa, (int)(126u - e)));
}

float skv_f16_to_float(uint16_t bits) {
  uint32_t sign = ((uint32_t)bits & 0x8000u) << 16;
  uint32_t exponent = ((uint32_t)bits >> 10) & 0x1Fu;
  uint32_t mantissa = (uint32_t)bits & 0x3FFu;
  if (exponent == 0x1Fu) /* inf or NaN, payload kept */
    return skv_float_from_bits(sign | 0x7F800000u | (mantissa << 13));
  if (exponent == 0) { /* zero or subnormal: mantissa * 2^-24, exact */
    float magnitude = (float)mantissa * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return skv_float_from_bits(sign | ((exponent + 112u) << 23) |
                             (mantissa << 13));
}

uint16_t skv_dtype_from_float(skv_dtype dtype, float x) {
  return dtype == SKV_DTYPE_BF16 ? skv_bf16_from_float(x)
                                 : skv_f16_from_float(x);
}

float skv_dtype_to_float(skv_dtype dtype, uint16_t bits) {
  return dtype == SKV_DTYPE_BF16 ? skv_bf16_to_float(bits)
                                 : skv_f16_to_float(bits);
}

/* ---- 8-bit floats -------------------------------------------------------- */

/* A non-negative fp8 code (sign bit clear) of e_bits exponent bits and
 * 7 - e_bits mantissa bits, as a float; ieee: the top exponent is inf and
 * NaN (e5m2), else only its top mantissa is NaN (e4m3). */
static float skv_fp8_magnitude(uint8_t code, int e_bits, int ieee) {
  const int m_bits = 7 - e_bits, bias = (1 << (e_bits - 1)) - 1;
  const int e = code >> m_bits, m = code & ((1 << m_bits) - 1);
  const int top = (1 << e_bits) - 1;
  if (ieee && e == top)
    return m ? NAN : INFINITY;
  if (!ieee && e == top && m == (1 << m_bits) - 1)
    return NAN;
  if (e == 0)
    return ldexpf((float)m, 1 - bias - m_bits);
  return ldexpf((float)((1 << m_bits) | m), e - bias - m_bits);
}

static float skv_fp8_to_float(uint8_t bits, int e_bits, int ieee) {
  float magnitude = skv_fp8_magnitude(bits & 0x7F, e_bits, ieee);
  return bits & 0x80 ? -magnitude : magnitude;
}

/* Codes 0 .. largest are finite and increase with their value: a binary
 * search finds the pair around |x|, and the nearer one wins (a tie goes to
 * the even code, whose mantissa ends in 0). */
static uint8_t skv_fp8_from_float(float x, int e_bits, int ieee, uint8_t largest,
                                  uint8_t nan) {
  const uint8_t sign = signbit(x) ? 0x80 : 0x00;
  if (isnan(x))
    return (uint8_t)(sign | nan);
  const float a = fabsf(x);
  if (a >= skv_fp8_magnitude(largest, e_bits, ieee))
    return (uint8_t)(sign | largest);
  int lo = 0, hi = largest;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (skv_fp8_magnitude((uint8_t)mid, e_bits, ieee) <= a)
      lo = mid;
    else
      hi = mid;
  }
  float below = a - skv_fp8_magnitude((uint8_t)lo, e_bits, ieee);
  float above = skv_fp8_magnitude((uint8_t)hi, e_bits, ieee) - a;
  int code = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
  return (uint8_t)(sign | code);
}

float skv_e4m3_to_float(uint8_t bits) { return skv_fp8_to_float(bits, 4, 0); }
float skv_e5m2_to_float(uint8_t bits) { return skv_fp8_to_float(bits, 5, 1); }
uint8_t skv_e4m3_from_float(float x) { return skv_fp8_from_float(x, 4, 0, 0x7E, 0x7F); }
uint8_t skv_e5m2_from_float(float x) { return skv_fp8_from_float(x, 5, 1, 0x7B, 0x7E); }

/* ---- decode attention ---------------------------------------------------- */

/* q heads handled per pass over the tokens: each K/V row is converted once
 * per pass, and the converted q rows live on the stack. */
#define SKV_REFERENCE_HEADS_PER_PASS 8

static void skv_row_to_double(skv_dtype dtype, const uint16_t *row, int n,
                              double *out) {
  if (dtype == SKV_DTYPE_BF16) {
    for (int i = 0; i < n; ++i)
      out[i] = skv_bf16_to_float(row[i]);
  } else {
    for (int i = 0; i < n; ++i)
      out[i] = skv_f16_to_float(row[i]);
  }
}

/* Online softmax over the keys query token `token` of sequence b attends
 * to, for q heads first_head .. +count, all on kv head kv_head. The running maximum keeps exp() in range whatever the
 * scores; rescaling happens only when the maximum grows (O(log n) times for
 * random data), and double makes the result independent of token order to
 * far below any kernel's error. */
static void skv_reference_decode_heads(const skv_reference_args *a, int b, int token,
                                       int kv_head, int first_head, int count) {
  const int q_len = a->q_len > 0 ? a->q_len : 1;
  const int dim = a->head_dim;
  double q[SKV_REFERENCE_HEADS_PER_PASS][SKV_REFERENCE_MAX_HEAD_DIM];
  double k[SKV_REFERENCE_MAX_HEAD_DIM];
  double v[SKV_REFERENCE_MAX_HEAD_DIM];
  double running_max[SKV_REFERENCE_HEADS_PER_PASS];
  double running_sum[SKV_REFERENCE_HEADS_PER_PASS];
  double *out[SKV_REFERENCE_HEADS_PER_PASS];

  for (int g = 0; g < count; ++g) {
    int64_t row = ((int64_t)b * q_len + token) * a->num_q_heads + first_head + g;
    skv_row_to_double(a->dtype, a->q + row * dim, dim, q[g]);
    for (int d = 0; d < dim; ++d)
      q[g][d] *= a->softmax_scale;
    out[g] = a->out + row * dim;
    memset(out[g], 0, (size_t)dim * sizeof(double));
    running_max[g] = -INFINITY;
    running_sum[g] = 0.0;
  }

  /* The query sits at position len - q_len + token: it attends to the keys
   * up to it, with a sliding window of W tokens to the last W of those. */
  const int64_t len = a->seqlens[b];
  const int64_t end = len - q_len + token + 1 > 0 ? len - q_len + token + 1 : 0;
  const int64_t first =
      a->sliding_window > 0 && end > a->sliding_window ? end - a->sliding_window : 0;
  for (int64_t t = first; t < end; ++t) {
    skv_row_to_double(a->dtype,
                      a->k + b * a->k_stride_batch + t * a->k_stride_seq +
                          kv_head * a->k_stride_head,
                      dim, k);
    skv_row_to_double(a->dtype,
                      a->v + b * a->v_stride_batch + t * a->v_stride_seq +
                          kv_head * a->v_stride_head,
                      dim, v);
    for (int g = 0; g < count; ++g) {
      double score = 0.0;
      for (int d = 0; d < dim; ++d)
        score += q[g][d] * k[d];
      if (a->logit_softcap > 0.0f)
        score = a->logit_softcap * tanh(score / a->logit_softcap);
      if (score > running_max[g]) {
        double rescale = exp(running_max[g] - score); /* 0 the first time */
        running_sum[g] *= rescale;
        for (int d = 0; d < dim; ++d)
          out[g][d] *= rescale;
        running_max[g] = score;
      }
      /* A NaN score fails the comparison above and poisons the sum here, so
       * NaN inputs give a NaN result rather than a plausible one. */
      double p = exp(score - running_max[g]);
      running_sum[g] += p;
      for (int d = 0; d < dim; ++d)
        out[g][d] += p * v[d];
    }
  }

  for (int g = 0; g < count; ++g) {
    double *lse = a->lse + ((int64_t)b * q_len + token) * a->num_q_heads + first_head + g;
    if (end == first) { /* no keys: out stays 0 */
      *lse = -INFINITY;
      continue;
    }
    for (int d = 0; d < dim; ++d)
      out[g][d] /= running_sum[g];
    *lse = running_max[g] + log(running_sum[g]);
  }
}

void skv_reference_decode_group(const skv_reference_args *args, int b,
                                int kv_head) {
  const int group = args->num_q_heads / args->num_kv_heads;
  const int q_len = args->q_len > 0 ? args->q_len : 1;
  for (int token = 0; token < q_len; ++token)
    for (int g = 0; g < group; g += SKV_REFERENCE_HEADS_PER_PASS) {
      int count = group - g < SKV_REFERENCE_HEADS_PER_PASS ? group - g
                                                           : SKV_REFERENCE_HEADS_PER_PASS;
      skv_reference_decode_heads(args, b, token, kv_head, kv_head * group + g, count);
    }
}

void skv_reference_decode(const skv_reference_args *args) {
  for (int b = 0; b < args->batch; ++b)
    for (int h = 0; h < args->num_kv_heads; ++h)
      skv_reference_decode_group(args, b, h);
}

/* ---- LSE merge ----------------------------------------------------------- */

void skv_lse_merge(int num_chunks, int head_dim, const double *chunk_lse,
                   const double *chunk_out, double *out, double *out_lse) {
  memset(out, 0, (size_t)head_dim * sizeof(double));
  double max_lse = -INFINITY;
  for (int c = 0; c < num_chunks; ++c) {
    if (isnan(chunk_lse[c])) { /* propagate, never hide a broken chunk */
      for (int d = 0; d < head_dim; ++d)
        out[d] = NAN;
      *out_lse = NAN;
      return;
    }
    if (chunk_lse[c] > max_lse)
      max_lse = chunk_lse[c];
  }
  if (max_lse == -INFINITY) { /* no chunk holds a token */
    *out_lse = -INFINITY;
    return;
  }
  double sum = 0.0;
  for (int c = 0; c < num_chunks; ++c)
    sum += exp(chunk_lse[c] - max_lse);
  double lse = max_lse + log(sum);
  for (int c = 0; c < num_chunks; ++c) {
    /* Skipping empty chunks (not only weighting them by 0) means whatever
     * their out holds cannot leak in as 0 * inf or 0 * NaN. */
    if (chunk_lse[c] == -INFINITY)
      continue;
    double weight = exp(chunk_lse[c] - lse);
    for (int d = 0; d < head_dim; ++d)
      out[d] += weight * chunk_out[(size_t)c * head_dim + d];
  }
  *out_lse = lse;
}

/* ---- error measure -------------------------------------------------------- */

double skv_relative_l2_error(const double *a, const double *b, size_t n) {
  double diff = 0.0;
  double norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (!isfinite(a[i]) || !isfinite(b[i]))
      return INFINITY;
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  if (norm == 0.0)
    return diff == 0.0 ? 0.0 : INFINITY;
  return sqrt(diff / norm);
}

double skv_dtype_error_bound(skv_dtype dtype) {
  return dtype == SKV_DTYPE_BF16 ? 1e-2 : 2e-3;
}
