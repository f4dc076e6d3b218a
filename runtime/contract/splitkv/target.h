/* The GPU targets splitkv builds for, and the model of their hardware that
 * the compiler's plan and the runtime's call planning both use: written once
 * here so that a register cap chosen at compile time and the occupancy the
 * runtime counts on at run time come from the same arithmetic.
 *
 * A contract between the compiler and the runtime, private to the build. */
#ifndef SPLITKV_TARGET_H
#define SPLITKV_TARGET_H

#include <stddef.h>
#include <stdio.h>

/* The targets a spec may name and splitkv-compile --target accepts, as sm
 * numbers (major * 10 + minor): X(sm). */
#define SKV_TARGETS(X) X(80) X(86) X(89) X(90)

/* The most targets one spec builds: every entry of SKV_TARGETS. */
#define SKV_TARGET_COUNT_ONE(sm) +1
#define SKV_MAX_TARGETS (0 SKV_TARGETS(SKV_TARGET_COUNT_ONE))

/* Is sm one of SKV_TARGETS? */
static inline int skv_target_known(int sm) {
#define SKV_TARGET_IS(target) sm == target ||
  return SKV_TARGETS(SKV_TARGET_IS) 0;
#undef SKV_TARGET_IS
}

/* "sm_80, sm_86, ...": the targets, for messages, into out (size bytes). */
static inline void skv_targets_text(char *out, size_t size) {
  static const int sms[] = {
#define SKV_TARGET_SM(target) target,
      SKV_TARGETS(SKV_TARGET_SM)
#undef SKV_TARGET_SM
  };
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < sizeof(sms) / sizeof(sms[0]) && used < size; ++i)
    used += (size_t)snprintf(out + used, size - used, "%ssm_%d", i ? ", " : "", sms[i]);
}

/* Images for this sm and newer synchronise with griddepcontrol, and the
 * runtime launches them with programmatic dependent launch (kernel_abi.h). */
#define SKV_GRID_DEPENDENCY_SM 90

/* Shared memory a kernel may declare statically, and use dynamically
 * without opting in to more (every target). */
#define SKV_STATIC_SMEM_LIMIT (48 * 1024)

/* Registers per SM on every target, split between quadrants that each run
 * their own warps; a warp's registers are allocated per thread in units of
 * SKV_REGISTER_UNIT. */
#define SKV_SM_REGISTERS 65536
#define SKV_SM_QUADRANTS 4
#define SKV_REGISTER_UNIT 8
#define SKV_WARP_SIZE 32

/* The most chunks one call cuts a sequence into: a spec's fixed count, a
 * call's override, the split kernel's grid x. */
#define SKV_MAX_SPLITS 256

/* The most q heads per kv head (the GQA group) a spec may have. */
#define SKV_MAX_GQA_GROUP 128

/* The most query tokens per sequence a call may give (a spec's
 * max_query_len: speculative decoding's drafts, multi-token prediction). */
#define SKV_MAX_QUERY_LEN 8

/* The most query rows one split CTA takes: the M dimension of one m16
 * tensor-core tile. A kv head's rows are its GQA group's q heads for each
 * query token of the call (q_len x group of them, token-major: row r is
 * token r / group, head r % group of the group); more than 16 are cut into
 * head tiles of 16 (the last holds the rest), a CTA each: grid y is kv
 * heads times the tiles (kernel_abi.h). Tiles of 16 rather than equal
 * ones: a tile of 15 heads spilled on sm_80 at head_dim 128 and 256
 * (ptxas), one of 16 does not. */
#define SKV_MAX_TILE_HEADS 16

/* The head tiles of `rows` query rows per kv head. */
static inline int skv_head_tiles(int rows) {
  return (rows + SKV_MAX_TILE_HEADS - 1) / SKV_MAX_TILE_HEADS;
}

/* The rows of each head tile (of the last: what remains). */
static inline int skv_tile_heads(int rows) {
  return rows < SKV_MAX_TILE_HEADS ? rows : SKV_MAX_TILE_HEADS;
}

/* Registers one warp takes at `per_thread` registers a thread. */
static inline int skv_warp_registers(int per_thread) {
  return SKV_WARP_SIZE *
         ((per_thread + SKV_REGISTER_UNIT - 1) / SKV_REGISTER_UNIT * SKV_REGISTER_UNIT);
}

/* Registers left in each quadrant of an SM holding `registers_per_sm`
 * when it runs `split_warps` warps of `split_registers` a thread, each
 * quadrant a quarter of them (rounded up). Negative when they do not fit. */
static inline int skv_quadrant_registers_left(int registers_per_sm, int split_warps,
                                              int split_registers) {
  int warps = (split_warps + SKV_SM_QUADRANTS - 1) / SKV_SM_QUADRANTS;
  return registers_per_sm / SKV_SM_QUADRANTS - warps * skv_warp_registers(split_registers);
}

/* The most registers a thread of `split_warps` warps per SM may take so
 * that one warp of `combine_registers` a thread still fits in every
 * quadrant beside them (the register cap of a split kernel whose combine
 * CTAs wait on the same SM). */
static inline int skv_split_register_cap(int split_warps, int combine_registers) {
  int warps = (split_warps + SKV_SM_QUADRANTS - 1) / SKV_SM_QUADRANTS;
  int left = SKV_SM_REGISTERS / SKV_SM_QUADRANTS - skv_warp_registers(combine_registers);
  return left / (SKV_WARP_SIZE * warps) / SKV_REGISTER_UNIT * SKV_REGISTER_UNIT;
}

#endif /* SPLITKV_TARGET_H */
