/* The plan: how a spec's kernels are shaped for one target (codegen.h),
 * derived from the spec and the target's limits (target.h). */
#include <stdio.h>
#include <string.h>

#include "kernels.h"

/* What the combine kernel may use per thread. */
#define SKV_COMBINE_MAX_REGS 64
/* Tokens per warp step: 16 or 32 (P·V one or two k16 mmas, two or four n8
 * tiles of S), 32 where that is at most 2048 elements of K (of the warp's
 * dims). */
#define SKV_MAX_WARP_TOKENS 32
#define SKV_STEP_ELEMENTS 2048
/* The balanced partition's cost of a segment (below). */
#define SKV_SEGMENT_COST_BYTES 32768
/* The smallest token (head_dim 32) weighs 128 bytes; kernel_abi.h keeps
 * segment costs below 2^12 tokens, for its i32 sums. */
_Static_assert(SKV_SEGMENT_COST_BYTES / 128 < 4096, "segment cost too large");

/* Appends a kernel "<spec>_<suffix>" to the plan's set. */
static void add_kernel(skv_kernel_plan *plan, skv_kernel_role role, const skv_spec *spec,
                       const char *suffix, int threads, int tokens_per_step) {
  skv_kernel_desc *kernel = &plan->kernels[plan->kernel_count++];
  memset(kernel, 0, sizeof(*kernel));
  kernel->role = role;
  kernel->threads = (uint32_t)threads;
  kernel->dynamic_smem_bytes = 0; /* all of it is static */
  kernel->tokens_per_step = (uint32_t)tokens_per_step;
  snprintf(kernel->entry, sizeof(kernel->entry), "%s_%s", spec->name, suffix);
}

skv_status skv_codegen_plan(const skv_spec *spec, int sm,
                            skv_kernel_plan *out_plan) {
  skv_kernel_plan plan;
  memset(&plan, 0, sizeof(plan));
  plan.sm = sm;
  plan.group = spec->num_q_heads / spec->num_kv_heads;
  plan.rows = plan.group * spec->max_query_len;
  plan.head_tiles = skv_head_tiles(plan.rows);
  plan.tile_heads = skv_tile_heads(plan.rows);
  plan.upper_rows = plan.tile_heads > 8;
  /* The parser refuses larger groups with their position; a spec built
   * otherwise still gets a message. */
  if (plan.group > SKV_MAX_GQA_GROUP)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%s: a GQA group of %d q heads per kv head is more than "
                     "the %d the kernels take",
                     spec->name, plan.group, SKV_MAX_GQA_GROUP);
  if (spec->max_query_len < 1 || spec->max_query_len > SKV_MAX_QUERY_LEN)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%s: max_query_len %d is outside [1, %d]", spec->name,
                     spec->max_query_len, SKV_MAX_QUERY_LEN);
  /* A lane's loads are 8 dims: a warp's share must be whole loads. */
  if (spec->head_dim % 16 != 0)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%s: head_dim %d is not a multiple of 16", spec->name,
                     spec->head_dim);
  /* A warp step reads up to SKV_STEP_ELEMENTS of K and as many of V: 16
   * tokens at head_dim 128 (P·V one k16 mma), 32 at 64 (two k16 mmas: as
   * many bytes in flight per warp as at 128). At 256 two warps share each
   * token stream, each holding half of the dims of Q, K, V and the
   * accumulators: a warp then holds what one of head_dim 128 does, 16
   * tokens of two steps of K and V beside them. */
  plan.dim_split = spec->head_dim > 256 ? 4 : spec->head_dim > 128 ? 2 : 1;
  plan.warp_tokens = SKV_MAX_WARP_TOKENS;
  while (plan.warp_tokens > 16 &&
         plan.warp_tokens * spec->head_dim / plan.dim_split > SKV_STEP_ELEMENTS)
    plan.warp_tokens /= 2;
  /* Warps per CTA: SKV_MAX_WARPS where two CTAs share an SM, and a wide
   * launch of twice the warps and streams where one CTA has the SM; the
   * runtime picks per call (a chunk per SM with a single kv head at batch
   * 1, a (batch, kv head) per SM at batch 16: kernel_abi.h). The streams'
   * partial results meet in shared memory: the wide launch exists only if
   * twice the streams fit the static limit. */
  int per_stream = plan.tile_heads * (2 + spec->head_dim) * (int)sizeof(float);
  /* With two warps a stream, their slots of S. */
  if (plan.dim_split > 1) {
    plan.pair_scores = plan.warp_tokens / 8 * (plan.upper_rows ? 4 : 2);
    per_stream += skv_pair_stream_floats(&plan) * (int)sizeof(float);
  }
  int fit = SKV_STATIC_SMEM_LIMIT / per_stream;
  int streams = SKV_MAX_WARPS / plan.dim_split;
  if (streams > fit)
    streams = fit;
  plan.warps = streams * plan.dim_split;
  int wide = 2 * streams <= fit && plan.warps == SKV_MAX_WARPS;
  /* griddepcontrol is PTX for sm_90 and newer. */
  plan.grid_dependency = sm >= SKV_GRID_DEPENDENCY_SM;
  /* The combine kernel: up to 2 warps per CTA (small enough, at 64
   * registers, to become resident beside two split CTAs and wait there for
   * them: 4 warps gave 19.3 -> 16.7 us for llama3_8b at 8192 tokens over 8
   * warps, 2 warps another 0.3 us at 1024), each a slice of 8 output dims
   * at 32 lanes; the runtime picks the lanes per call (kernel_abi.h). */
  int slices = spec->head_dim / 8, warps_per_cta = 2;
  while (slices % warps_per_cta != 0)
    warps_per_cta /= 2;
  int combine_threads = 32 * warps_per_cta;
  /* The combine CTA is resident beside the split CTAs (and waits there for
   * their partials) only if their warps fit the registers of an SM's four
   * quadrants: each (16384 registers) holds a quarter of the split warps
   * and one combine warp. So the combine kernel is capped at what it needs
   * and the split kernel at the rest: 224 with two 4-warp CTAs (or one
   * 8-warp CTA, the wide launch) per SM. Uncapped, a head_dim 256 split
   * kernel takes 255 and its combine CTAs wait for split CTAs to leave;
   * capped at 240, head_dim 128's took 231 (215 uncapped), one combine
   * warp no longer fit, and llama3_8b at 8192 tokens went from 16.6 to
   * 19.2 us on an H100. Without programmatic dependent launch (before
   * sm_90) the combine kernel starts after the split kernel ends, and
   * neither is capped. */
  if (plan.grid_dependency) {
    plan.combine_max_regs = SKV_COMBINE_MAX_REGS;
    /* Two narrow CTAs or one wide one: the same warps per SM. */
    plan.split_max_regs = skv_split_register_cap(2 * plan.warps, plan.combine_max_regs);
  }
  /* A balanced CTA's segment costs, beyond its tokens, about a DRAM
   * round trip to its first rows and the write of its partial result,
   * during which a CTA would stream about SKV_SEGMENT_COST_BYTES of K and
   * V (docs/perf-log.md §48): the partition weighs each non-empty
   * sequence that much more, so a range of many short sequences is
   * shorter in tokens. */
  int token_bytes = 2 * spec->head_dim * 2; /* K and V, bf16 or f16 */
  plan.segment_tokens = (SKV_SEGMENT_COST_BYTES + token_bytes - 1) / token_bytes;
  add_kernel(&plan, SKV_KERNEL_SPLIT, spec, "split", 32 * plan.warps,
             streams * plan.warp_tokens);
  if (wide)
    add_kernel(&plan, SKV_KERNEL_SPLIT, spec, "split_wide", 2 * 32 * plan.warps,
               2 * streams * plan.warp_tokens);
  add_kernel(&plan, SKV_KERNEL_BALANCED, spec, "split_balanced", 32 * plan.warps,
             streams * plan.warp_tokens);
  add_kernel(&plan, SKV_KERNEL_COMBINE, spec, "combine", combine_threads, 0);
  *out_plan = plan;
  return SKV_OK;
}

