/* Call planning, without the driver: the split count, the launch, the
 * combine kernel's lanes and trigger, the workspace layout, the argument
 * checks and the image a device loads, as pure functions of package records
 * and device properties (attention_internal.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "attention_internal.h"

#define INVALID(...) SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, __VA_ARGS__)

static skv_status check_sizes(int batch, int max_seqlen, int num_splits) {
  /* batch is grid dimension z. */
  if (batch < 1 || batch > 65535)
    return INVALID("batch is %d, must be in [1, 65535]", batch);
  if (max_seqlen < 0)
    return INVALID("max_seqlen is %d, must be >= 0", max_seqlen);
  if (num_splits < 0 || num_splits > SKV_MAX_SPLITS)
    return INVALID("num_splits is %d, must be 0 (the spec's choice) or in "
                   "[1, %d]",
                   num_splits, SKV_MAX_SPLITS);
  return SKV_OK;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

skv_status skv_splits_choose(const skv_pkg_spec *spec, skv_device_fill fill, int batch,
                             int q_len, int max_seqlen, int num_splits_override,
                             int *out_num_splits) {
  SKV_RETURN_IF_ERROR_PLAIN(check_sizes(batch, max_seqlen, num_splits_override));
  if (num_splits_override > 0) {
    *out_num_splits = num_splits_override;
    return SKV_OK;
  }
  if (spec->splits > 0) {
    *out_num_splits = (int)spec->splits;
    return SKV_OK;
  }
  /* As many chunks as fill the device in exactly one wave: a second,
   * partial wave costs a whole chunk's time, and so does an SM that holds
   * more CTAs than others (llama3_8b on an H100 at 2048 tokens: 7.6 us in
   * 33 chunks, 8.7 in 32, 10.5 in 48; at 8192 16.2 in 33, 18.5 in 24).
   * Short chunks still pay: 1024 tokens take 6.3 us in 33 chunks of 31,
   * 7.5 in 16 of 64; 512 5.4 in 33, 7.0 in 8. Only a chunk shorter than
   * one warp's step (tokens_per_step / warps, 16 at head_dim 128, 32 at
   * 64; half a step at 256, whose warps share steps in pairs: 8) would
   * leave whole CTAs without a step of their own. A sequence that one CTA
   * step covers runs in one CTA, without the combine kernel (64 tokens:
   * 6.4 us in 4 chunks, ~4 in one). */
  int64_t rows = (int64_t)batch * skv_head_ctas(spec, q_len);
  int64_t slots = (int64_t)fill.sms * fill.ctas_per_sm;
  int64_t cta_step = fill.cta_tokens;
  int64_t splits = 1;
  if (rows < slots && max_seqlen > cta_step) {
    splits = slots / rows;
    int64_t warp_step = (int64_t)fill.cta_tokens * SKV_WARP_SIZE / fill.split_threads;
    int64_t by_length = ceil_div(max_seqlen, warp_step > 0 ? warp_step : 1);
    if (splits > by_length)
      splits = by_length;
    /* At most a chunk per SM for each (batch, kv head): past that the
     * combine kernel's work grows faster than the split kernel's shrinks
     * (H100, MQA 8/1 at 65536 tokens: 18.4 us in 132 chunks, 19.1 in 128,
     * 19.1 in 160, 21.4 in 200). */
    if (splits > fill.sms)
      splits = fill.sms;
  }
  *out_num_splits = (int)splits;
  return SKV_OK;
}

skv_status skv_launch_choose(const skv_pkg_spec *spec, const skv_launches *launches,
                             int batch, int q_len, int max_seqlen, int num_splits_override,
                             int *out_fill, int *out_num_splits) {
  const skv_device_fill *fills = launches->fills;
  const int count = launches->count;
  /* Measured on an H100 and an H200 (docs/perf-log.md §27): a wide launch
   * (one CTA per SM, twice the streams) wins where it fills the SMs
   * with more warps (a single kv head at batch 1: a chunk per SM either
   * way) or as many without splitting (llama3_8b at batch 16, 2048 tokens:
   * 37.8 -> 33.5 us on an H200, 128 CTAs, no combine kernel); the narrow
   * one wherever both split (batch 1 of 8 kv heads, MQA at batch 8) or
   * both fill one wave (batch 32) - unless the narrow one cuts each row in
   * SKV_MANY_CHUNKS or more, where halving the chunks the combine kernel
   * merges pays (head_dim 256 at 2 kv heads: 132 chunks 29.0 us, 66 wide
   * 28.2 on an H100; 4 kv heads -0.2 or 0). */
  enum { SKV_MANY_CHUNKS = 64 };
  int best = 0, best_splits = 0;
  int64_t best_warps = 0;
  for (int i = 0; i < count; ++i) {
    int splits = 0;
    SKV_RETURN_IF_ERROR_PLAIN(skv_splits_choose(spec, fills[i], batch, q_len, max_seqlen,
                                                num_splits_override, &splits));
    int64_t ctas = (int64_t)batch * skv_head_ctas(spec, q_len) * splits;
    int64_t slots = (int64_t)fills[i].sms * fills[i].ctas_per_sm;
    int64_t warps = (ctas < slots ? ctas : slots) * (fills[i].split_threads / 32);
    bool more = warps * 100 > best_warps * 105;
    bool as_many = warps * 105 >= best_warps * 100;
    bool fewer_chunks =
        splits < best_splits && (splits == 1 || best_splits >= SKV_MANY_CHUNKS);
    if (i == 0 || more || (as_many && fewer_chunks)) {
      best = i;
      best_splits = splits;
      best_warps = warps;
    }
  }
  *out_fill = best;
  *out_num_splits = best_splits;
  return SKV_OK;
}

/* The most keys a call of q_len query tokens attends to: max_seqlen, or a
 * spec's sliding window where it is shorter (from the first token's window
 * to the last one's). */
static int attended_tokens(const skv_pkg_spec *spec, int q_len, int max_seqlen) {
  int64_t window = (int64_t)spec->sliding_window + q_len - 1;
  return spec->sliding_window > 0 && max_seqlen > window ? (int)window : max_seqlen;
}

skv_status skv_partition_choose(const skv_pkg_spec *spec, const skv_launches *launches,
                                int batch, int q_len, int max_seqlen, int num_splits_override,
                                int *out_fill, int *out_num_splits, int *out_balanced) {
  /* A window caps the work of every sequence, whatever its length. */
  max_seqlen = attended_tokens(spec, q_len, max_seqlen);
  SKV_RETURN_IF_ERROR_PLAIN(skv_launch_choose(spec, launches, batch, q_len, max_seqlen,
                                              num_splits_override, out_fill, out_num_splits));
  *out_balanced = 0;
  if (num_splits_override > 0 || spec->splits > 0 ||
      launches->partition == SKV_PARTITION_UNIFORM || batch > SKV_BALANCED_MAX_BATCH ||
      (int64_t)batch * max_seqlen >= (int64_t)1 << 30)
    return SKV_OK;
  /* The uniform launch gives every sequence the same chunks, from
   * max_seqlen: a long sequence among short ones streams on its few CTAs
   * while the rest of the device idles (issue 19's H100 table: 1 x 131072
   * + 31 x 1024 took 1637 us, the long one alone 191). Balanced, every CTA
   * takes the same share of the batch's tokens, whatever the lengths. Below
   * SKV_BALANCED_MIN_TOKENS per uniform chunk the worst such case is short,
   * and the uniform launch (no scan of the lengths, no combine kernel with
   * one chunk) is kept. */
  const skv_device_fill *f = &launches->fills[SKV_BALANCED_LAUNCH];
  int64_t per_head = (int64_t)f->sms * f->ctas_per_sm / skv_head_ctas(spec, q_len);
  if (per_head > SKV_MAX_SPLITS)
    per_head = SKV_MAX_SPLITS;
  if (launches->partition == SKV_PARTITION_AUTO &&
      (batch < 2 || per_head < 2 ||
       ceil_div(max_seqlen, *out_num_splits) < SKV_BALANCED_MIN_TOKENS))
    return SKV_OK;
  *out_fill = SKV_BALANCED_LAUNCH;
  *out_num_splits = per_head > 1 ? (int)per_head : 1;
  *out_balanced = 1;
  return SKV_OK;
}

int skv_combine_warps_resident(int sms, int registers_per_sm, int ctas_per_sm,
                               int split_threads, int split_registers,
                               int combine_registers) {
  int left = skv_quadrant_registers_left(
      registers_per_sm, ctas_per_sm * split_threads / SKV_WARP_SIZE, split_registers);
  int per_warp = skv_warp_registers(combine_registers);
  if (left <= 0 || per_warp <= 0)
    return 0;
  return sms * SKV_SM_QUADRANTS * (left / per_warp);
}

int skv_combine_lanes_choose(const skv_pkg_spec *spec, int combine_threads,
                             skv_device_fill fill, int batch, int q_len, int num_splits) {
  /* Every combine CTA should be waiting on an SM when the split kernel
   * ends; one that finds no room starts only as split CTAs leave. At 32
   * lanes a slice per warp: codellama_34b (64 q heads, 1024 warps where an
   * H100 holds 528) took 31.0 us at 16384 tokens, 28.6 at 8 lanes; where
   * the warps fit, 32 lanes are faster (MHA16: 16.2 us, 16.6 at 8). */
  const int64_t slices = spec->head_dim / 8;
  const int64_t rows = (int64_t)batch * q_len * spec->num_q_heads;
  int lanes = 32;
  while (fill.combine_warps > 0 && lanes > 1) {
    int64_t warps = (rows * slices * lanes + 31) / 32;
    int half = lanes / 2;
    /* combine_threads is whole warps: half divides it. */
    if (warps <= fill.combine_warps || (int64_t)half * SKV_COMBINE_UNROLL < num_splits ||
        slices % (combine_threads / half) != 0)
      break;
    lanes = half;
  }
  return lanes;
}

int64_t skv_late_trigger_bytes(int memory_clock_khz, int bus_width_bits) {
  double bytes_per_s = 2.0 * memory_clock_khz * 1e3 * bus_width_bits / 8;
  return (int64_t)(bytes_per_s * SKV_LATE_TRIGGER_US * 1e-6);
}

int skv_combine_late_choose(const skv_pkg_spec *spec, skv_device_fill fill, int batch,
                            int q_len, int max_seqlen) {
  max_seqlen = attended_tokens(spec, q_len, max_seqlen);
  /* In double: any batch, heads and length a record or a call holds (up to
   * 2^16 x 2^10 x 2^31 x 2^9 x 4 bytes) stays exact enough to compare and
   * never overflows. */
  double bytes = 2.0 * batch * spec->num_kv_heads * (double)max_seqlen * spec->head_dim *
                 sizeof(uint16_t);
  return fill.late_trigger_bytes > 0 && bytes >= (double)fill.late_trigger_bytes;
}

static size_t align_up(size_t n) {
  return (n + SKV_WORKSPACE_ALIGN - 1) / SKV_WORKSPACE_ALIGN * SKV_WORKSPACE_ALIGN;
}

/* Fills the plan's offsets and the full size (lse scratch included). */
static void workspace_layout(const skv_pkg_spec *spec, int batch, int q_len, int num_splits,
                             int balanced, skv_decode_plan *plan) {
  size_t seq_rows = (size_t)q_len * spec->num_q_heads;
  size_t rows = (size_t)batch * seq_rows;
  size_t parts = balanced          ? seq_rows * ((size_t)num_splits + batch)
                 : num_splits > 1 ? rows * (size_t)num_splits
                                  : 0;
  size_t table = balanced ? 2 * (size_t)batch * sizeof(int32_t) : 0;
  plan->q_len = q_len;
  plan->num_splits = num_splits;
  plan->balanced = balanced;
  plan->part_out_offset = 0;
  plan->part_lse_offset = align_up(parts * spec->head_dim * sizeof(float));
  plan->chunk_table_offset = plan->part_lse_offset + align_up(parts * sizeof(float));
  plan->lse_offset = plan->chunk_table_offset + align_up(table);
  plan->workspace_bytes = plan->lse_offset + align_up(rows * sizeof(float));
}

size_t skv_workspace_bytes(const skv_pkg_spec *spec, int batch, int q_len, int num_splits,
                           int balanced) {
  skv_decode_plan plan;
  workspace_layout(spec, batch, q_len, num_splits, balanced, &plan);
  return plan.workspace_bytes;
}

skv_status skv_workspace_most(const skv_pkg_spec *spec, const skv_launches *launches,
                              int batch, int max_seqlen, int num_splits_override,
                              size_t *out_bytes) {
  size_t most = 0;
  for (int q_len = 1; q_len <= (int)spec->max_query_len; ++q_len) {
    int fill = 0, num_splits = 0, balanced = 0;
    SKV_RETURN_IF_ERROR_PLAIN(skv_partition_choose(spec, launches, batch, q_len, max_seqlen,
                                                   num_splits_override, &fill, &num_splits,
                                                   &balanced));
    size_t bytes = skv_workspace_bytes(spec, batch, q_len, num_splits, balanced);
    if (bytes > most)
      most = bytes;
  }
  *out_bytes = most;
  return SKV_OK;
}

static skv_status check_pointer(const void *p, const char *name,
                                bool may_be_null) {
  if (!p && !may_be_null)
    return INVALID("%s is NULL", name);
  if ((uintptr_t)p % 16 != 0)
    return INVALID("%s (%p) is not 16-byte aligned", name, p);
  return SKV_OK;
}

static skv_status check_match(int value, uint32_t expected, const char *name,
                              const skv_pkg_spec *spec) {
  if (value != (int64_t)expected)
    return INVALID("%s is %d but spec %s has %u", name, value, spec->name,
                   expected);
  return SKV_OK;
}

static skv_status check_stride(int64_t stride, const char *name) {
  /* Multiples of 8 keep every head_dim row 16-byte aligned. */
  if (stride < 0 || stride % 8 != 0)
    return INVALID("%s is %lld, must be a non-negative multiple of 8 elements",
                   name, (long long)stride);
  return SKV_OK;
}

/* skv_decode_call's fields from either call's arguments. */
#define DECODE_CALL(args, kf, vf, k0, k1, k2, v0, v1, v2)                                     \
  (skv_decode_call) {                                                                        \
    .q = (args)->q, .k = (args)->kf, .v = (args)->vf, .seqlens = (args)->seqlens,            \
    .out = (args)->out, .lse = (args)->lse, .workspace = (args)->workspace,                  \
    .workspace_size = (args)->workspace_size, .batch = (args)->batch,                        \
    .max_seqlen = (args)->max_seqlen, .num_q_heads = (args)->num_q_heads,                    \
    .num_kv_heads = (args)->num_kv_heads, .head_dim = (args)->head_dim,                      \
    .num_splits = (args)->num_splits, .q_len = (args)->q_len,                                \
    .strides = {(args)->k0, (args)->k1, (args)->k2, (args)->v0, (args)->v1, (args)->v2},     \
    .k_name = #kf, .v_name = #vf, .stride_names = {#k0, #k1, #k2, #v0, #v1, #v2},            \
  }

static skv_status check_int32_pointer(const int32_t *p, const char *name) {
  if (!p)
    return INVALID("%s is NULL", name);
  if ((uintptr_t)p % sizeof(int32_t) != 0)
    return INVALID("%s (%p) is not 4-byte aligned", name, (const void *)p);
  return SKV_OK;
}

/* The checks and the plan of every call: pointers, sizes, the spec's
 * shape, the launch, split count, combine lanes and trigger, workspace. */
static skv_status plan_call(const skv_pkg_spec *spec, const skv_launches *launches,
                            const skv_decode_call *c, skv_decode_plan *out_plan) {
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(c->k, c->k_name, false));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(c->v, c->v_name, false));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(c->q, "q", false));
  SKV_RETURN_IF_ERROR_PLAIN(check_int32_pointer(c->seqlens, "seqlens"));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(c->out, "out", false));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(c->lse, "lse", true));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(c->workspace, "workspace", true));
  SKV_RETURN_IF_ERROR_PLAIN(check_sizes(c->batch, c->max_seqlen, c->num_splits));
  SKV_RETURN_IF_ERROR_PLAIN(check_match(c->num_q_heads, spec->num_q_heads, "num_q_heads", spec));
  SKV_RETURN_IF_ERROR_PLAIN(
      check_match(c->num_kv_heads, spec->num_kv_heads, "num_kv_heads", spec));
  SKV_RETURN_IF_ERROR_PLAIN(check_match(c->head_dim, spec->head_dim, "head_dim", spec));
  for (int i = 0; i < 6; ++i)
    SKV_RETURN_IF_ERROR_PLAIN(check_stride(c->strides[i], c->stride_names[i]));
  if (c->q_len < 0 || c->q_len > (int64_t)spec->max_query_len)
    return INVALID("q_len is %d, must be in [1, %u] (spec %s's max_query_len; 0 means 1)",
                   c->q_len, spec->max_query_len, spec->name);
  const int q_len = c->q_len > 0 ? c->q_len : 1;

  skv_decode_plan plan;
  int num_splits = 0, fill = 0, balanced = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_partition_choose(spec, launches, c->batch, q_len,
                                                 c->max_seqlen, c->num_splits, &fill,
                                                 &num_splits, &balanced));
  workspace_layout(spec, c->batch, q_len, num_splits, balanced, &plan);
  plan.call = *c;
  plan.launch = fill;
  const skv_device_fill *chosen = &launches->fills[fill];
  plan.combine_lanes = skv_combine_lanes_choose(spec, launches->combine_threads, *chosen,
                                                c->batch, q_len, num_splits);
  plan.combine_late = skv_combine_late_choose(spec, *chosen, c->batch, q_len, c->max_seqlen);
  if (c->lse)
    plan.workspace_bytes = plan.lse_offset;
  size_t have = c->workspace ? c->workspace_size : 0;
  if (have < plan.workspace_bytes) {
    if (!c->workspace)
      return INVALID("workspace is NULL, this call needs %zu bytes (num_splits %d%s)",
                     plan.workspace_bytes, num_splits, balanced ? ", balanced" : "");
    return INVALID("workspace is %zu bytes, this call needs %zu (num_splits %d%s)", have,
                   plan.workspace_bytes, num_splits, balanced ? ", balanced" : "");
  }
  *out_plan = plan;
  return SKV_OK;
}

/* The spec's cache layout against the call's. */
static skv_status check_layout(const skv_pkg_spec *spec, skv_kv_layout layout,
                               const char *call) {
  if (spec->kv_layout != layout)
    return INVALID("spec %s reads a %s KV cache; %s passes a %s one", spec->name,
                   skv_kv_layout_name(spec->kv_layout), call, skv_kv_layout_name(layout));
  return SKV_OK;
}

skv_status skv_decode_plan_make(const skv_pkg_spec *spec, const skv_launches *launches,
                                const skv_decode_args *args, skv_decode_plan *out_plan) {
  if (!args)
    return INVALID("args is NULL");
  skv_decode_call c = DECODE_CALL(args, k, v, k_stride_batch, k_stride_seq, k_stride_head,
                                  v_stride_batch, v_stride_seq, v_stride_head);
  SKV_RETURN_IF_ERROR_PLAIN(plan_call(spec, launches, &c, out_plan));
  /* skv_decode_args describes a contiguous cache (strides per batch, token
   * and head): a spec built for another layout reads its cache otherwise. */
  return check_layout(spec, SKV_KV_CONTIGUOUS, "skv_attention_decode");
}

skv_status skv_paged_decode_plan_make(const skv_pkg_spec *spec, const skv_launches *launches,
                                      const skv_paged_decode_args *args,
                                      skv_decode_plan *out_plan) {
  if (!args)
    return INVALID("args is NULL");
  skv_decode_call c = DECODE_CALL(args, k_pages, v_pages, k_stride_page, k_stride_slot,
                                  k_stride_head, v_stride_page, v_stride_slot, v_stride_head);
  SKV_RETURN_IF_ERROR_PLAIN(plan_call(spec, launches, &c, out_plan));
  SKV_RETURN_IF_ERROR_PLAIN(check_layout(spec, SKV_KV_PAGED, "skv_attention_decode_paged"));
  if (args->num_pages < 0)
    return INVALID("num_pages is %d, it cannot be negative", args->num_pages);
  if (args->block_table && (args->page_indptr || args->page_indices))
    return INVALID("block_table and page_indptr/page_indices are both given: pass one form "
                   "of the page table");
  if (args->block_table) {
    SKV_RETURN_IF_ERROR_PLAIN(check_int32_pointer(args->block_table, "block_table"));
    int64_t pages = skv_pages_of(args->max_seqlen, spec->page_size);
    if (args->block_table_stride < 1 || args->block_table_stride < pages)
      return INVALID("block_table_stride is %d, a row must hold the %lld pages of "
                     "max_seqlen %d tokens (page_size %d)",
                     args->block_table_stride, (long long)pages, args->max_seqlen,
                     spec->page_size);
    return SKV_OK;
  }
  if (!args->page_indptr && !args->page_indices)
    return INVALID("no page table: pass block_table, or page_indptr and page_indices");
  SKV_RETURN_IF_ERROR_PLAIN(check_int32_pointer(args->page_indptr, "page_indptr"));
  return check_int32_pointer(args->page_indices, "page_indices");
}

/* ---- image choice ------------------------------------------------------- */

static bool has_image(const skv_pkg_image *images, uint32_t count,
                      uint32_t kind, uint32_t sm) {
  for (uint32_t i = 0; i < count; ++i)
    if (images[i].kind == kind && images[i].sm == sm)
      return true;
  return false;
}

/* The lowest target above sm among the images, 0 when there is none. */
static uint32_t next_sm(const skv_pkg_image *images, uint32_t count,
                        uint32_t sm) {
  uint32_t next = 0;
  for (uint32_t i = 0; i < count; ++i)
    if (images[i].sm > sm && (next == 0 || images[i].sm < next))
      next = images[i].sm;
  return next;
}

skv_status skv_image_choose(const skv_pkg_image *images, uint32_t count,
                            int device_sm, const char *device_name,
                            uint32_t *out_index) {
  int major = device_sm / 10, minor = device_sm % 10;
  uint32_t best = count;
  for (uint32_t i = 0; i < count; ++i) {
    const skv_pkg_image *image = &images[i];
    if (image->kind == SKV_IMAGE_CUBIN && (int)image->sm / 10 == major &&
        (int)image->sm % 10 <= minor &&
        (best == count || images[best].kind != SKV_IMAGE_CUBIN ||
         image->sm > images[best].sm))
      best = i;
    else if (image->kind == SKV_IMAGE_PTX && (int)image->sm <= device_sm &&
             (best == count || (images[best].kind == SKV_IMAGE_PTX &&
                                image->sm > images[best].sm)))
      best = i;
  }
  if (best < count) {
    *out_index = best;
    return SKV_OK;
  }
  /* Every target once, ascending, with the kinds it has. */
  char have[512] = "";
  size_t used = 0;
  for (uint32_t sm = next_sm(images, count, 0); sm && used < sizeof(have);
       sm = next_sm(images, count, sm)) {
    bool cubin = has_image(images, count, SKV_IMAGE_CUBIN, sm);
    bool ptx = has_image(images, count, SKV_IMAGE_PTX, sm);
    used += (size_t)snprintf(have + used, sizeof(have) - used,
                             "%ssm_%u (%s%s%s)", used ? ", " : "", sm,
                             cubin ? "cubin" : "", cubin && ptx ? ", " : "",
                             ptx ? "ptx" : "");
  }
  return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                   "device %s (sm_%d) has no image in this package: it holds "
                   "%s",
                   device_name, device_sm, count ? have : "none");
}


int64_t skv_pages_of(int len, int page_size) {
  return ((int64_t)len + page_size - 1) / page_size;
}

skv_status skv_page_check_sequence(int b, int len, int max_seqlen, int page_size,
                                   int64_t csr_pages, const int32_t *ids,
                                   const char *table, int64_t row, int num_pages) {
  if (len < 0 || len > max_seqlen)
    return INVALID("page check: seqlens[%d] is %d, outside [0, max_seqlen %d]", b, len,
                   max_seqlen);
  int64_t need = skv_pages_of(len, page_size);
  if (csr_pages >= 0 && csr_pages < need)
    return INVALID("page check: page_indptr gives sequence %d %lld pages, its %d tokens "
                   "need %lld (page_size %d)",
                   b, (long long)csr_pages, len, (long long)need, page_size);
  for (int64_t i = 0; i < need; ++i)
    if (ids[i] < 0 || ids[i] >= num_pages)
      return INVALID("page check: %s[%lld] (page %lld of sequence %d) is %d, outside the "
                     "pool's %d pages",
                     table, (long long)(row + i), (long long)i, b, ids[i], num_pages);
  return SKV_OK;
}
