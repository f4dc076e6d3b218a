/* The contract between the generated kernels and the runtime: the kernel
 * roles, each role's argument list (written once below: the generator
 * derives its kernel signatures from it, the runtime its parameter arrays),
 * grids and semantics. The compiler (lib/codegen) generates the kernels, the
 * package lists them (package_format.h: entry name, role, block size,
 * shared memory, tokens per step), the runtime (runtime/src) launches them.
 * Change both sides together and bump SKV_KERNEL_ABI_VERSION.
 *
 * A contract between the compiler and the runtime, private to the build.
 *
 * A call gives q_len query tokens per sequence (1 to the spec's
 * max_query_len): q, out and lse are [batch, q_len, num_q_heads, ...], and
 * token i of sequence b (length len) sits at position len - q_len + i: it
 * attends to keys 0 .. len - q_len + i (with a sliding window of W, the
 * last W of those), causal among the new tokens, bottom-right aligned. A
 * token with no key to attend to gets out 0 and lse -inf. Below, a "row"
 * is one (token, q head) pair: row (b, i, h) of q is (b * q_len + i) *
 * num_q_heads + h.
 *
 * SPLIT kernels (one or more per spec, each a launch shape the runtime may
 * pick per call: a narrow one of two CTAs per SM, a wide one of one CTA
 * per SM with twice the token streams) and the BALANCED kernel (one per
 * spec, the narrow shape) work for a head tile of kv head h: its q_len * G
 * rows (G = num_q_heads / num_kv_heads; row r is token r / G and q head
 * h*G + r % G) are cut into skv_head_tiles(q_len * G) tiles of
 * skv_tile_heads(max_query_len * G) rows (target.h; one tile where q_len *
 * G <= 16), and grid y = y_h * tiles + t names kv head h's tile t, rows t*R
 * .. (R = tile rows, the last tile up to q_len * G). They run with the
 * kernel's block and dynamic shared memory, and take the same arguments.
 * Below, "kv heads" in a grid means num_kv_heads * tiles, and "q heads"
 * per sequence q_len * num_q_heads: the rows of token i, head h of
 * sequence b take the place of q head i * num_q_heads + h. They cut the
 * work in one of two partitions:
 *
 *   uniform (SPLIT): grid (num_splits, kv heads, batch). Sequence b's
 *   tokens are cut into blocks of min(ceil(len / num_splits), the kernel's
 *   tokens_per_step) tokens, dealt round-robin: CTA (c, h, b) handles
 *   blocks c, c + num_splits, ... (chunk c). With num_splits == 1 it writes
 *   out and lse itself. Otherwise it writes part_out and part_lse at row
 *   (b * num_q_heads + q head) * num_splits + c (an empty chunk writes lse
 *   -inf and zeros), and the combine kernel runs next.
 *
 *   balanced (BALANCED): grid (num_splits, kv heads, 1), for batches whose
 *   lengths may differ widely. The batch's sequences are laid end to end
 *   by weight: sequence b weighs n_b (the keys its tokens attend to: len,
 *   or min(len, sliding_window + q_len - 1)) plus the kernel's segment cost if n_b > 0
 *   (a constant of the kernel, in tokens: what a CTA spends on a segment
 *   beyond its tokens), else 0; its tokens take the first n_b of its
 *   weight. The total is cut into num_splits ranges of T = ceil(total /
 *   num_splits): CTA (i, h) takes [i*T, (i+1)*T), a segment of each
 *   sequence whose tokens the range meets. A segment that is its whole
 *   sequence writes out and lse; any other writes part_out and part_lse
 *   at row q head * (num_splits + batch) + i + b, and the CTA (i, 0)
 *   with the sequence's first token writes chunk_table[2b] = i + b (its first such
 *   row) and chunk_table[2b + 1] = the CTAs that share the sequence (1:
 *   the sequence was whole). The combine kernel always runs next. Every
 *   CTA has the same weight to work through, whatever the lengths; the
 *   sums are i32 (the runtime keeps batch * max_seqlen below 2^30 and
 *   batch at most 256; segment costs are below 2^12 tokens).
 *
 * The COMBINE kernel (one per spec), after a SPLIT kernel with num_splits >
 * 1 and after every BALANCED one (its `balanced` 1): `lanes` lanes (a power of
 * two, at most 32) per slice of 8 output dims, each taking every lanes-th
 * chunk, SKV_COMBINE_UNROLL chunks' loads at a time; its block, no shared
 * memory, grid (num_q_heads * R, batch * q_len) with R = head_dim / 8 /
 * (threads / lanes) CTAs per output row (lanes such that this divides); CTA
 * (h * R + p, b * q_len + i) does part p of row (b, i, h). It merges the
 * row's chunks by
 * LSE and writes out and lse (a sequence with no tokens gets out 0, lse
 * -inf). Balanced, the chunks are those chunk_table names, a sequence
 * with no tokens has none, and a whole one is left as the split kernel
 * wrote it.
 *
 * Kernels of images for sm_90 and newer (SKV_GRID_DEPENDENCY_SM) begin with
 * griddepcontrol (launch_dependents, then wait) before using memory, so the
 * runtime launches them with programmatic stream serialization: a call's
 * launch and CTA start overlap the previous kernel's tail, and its reads
 * still see everything that kernel wrote. Between the two, the split kernel
 * reads seqlens[b] as it is then and prefetches into L2 the first step of
 * K and V below that length (a hint: its data is never used, and the
 * length is read again after the wait). The combine kernel with `late` set
 * triggers its dependent (launch_dependents) only after its wait, so the
 * next call's split CTAs take no slot before this call's split kernel has
 * ended. Older targets launch plainly.
 *
 * All pointers are 16-byte aligned and strides are multiples of 8 elements,
 * so every row of head_dim elements starts 16-byte aligned. */
#ifndef SPLITKV_KERNEL_ABI_H
#define SPLITKV_KERNEL_ABI_H

#include <stdint.h>

#include "splitkv/target.h"
#include "splitkv/types.h"

#define SKV_KERNEL_ABI_VERSION 10u

/* Chunks a combine lane loads at once. */
#define SKV_COMBINE_UNROLL 6

/* The kernel roles (an enumeration list, types.h). */
#define SKV_KERNEL_ROLES(X)                                                    \
  X(SKV_KERNEL_SPLIT, split, 1)                                                \
  X(SKV_KERNEL_COMBINE, combine, 2)                                            \
  X(SKV_KERNEL_BALANCED, balanced, 3)

typedef enum skv_kernel_role { SKV_KERNEL_ROLES(SKV_ENUM_VALUE) } skv_kernel_role;

/* "split", "combine"; "unknown" for any other value. A static string. */
const char *skv_kernel_role_name(skv_kernel_role role);

#define SKV_ENTRY_MAX 96 /* kernel entry names, with NUL */
#define SKV_MAX_KERNELS 8 /* kernels per spec */

/* One kernel of a spec's set: an entry point every image of the spec holds
 * (the plan makes the set, the package records it, the runtime loads it). */
typedef struct skv_kernel_desc {
  uint32_t role;               /* skv_kernel_role */
  uint32_t threads;            /* block size, whole warps */
  uint32_t dynamic_smem_bytes; /* per block */
  uint32_t tokens_per_step;    /* SPLIT, BALANCED: KV tokens a CTA takes
                                  per loop step; 0 for other roles */
  char entry[SKV_ENTRY_MAX];
} skv_kernel_desc;

/* What the PTX compiler (ptxas) reported for one kernel compiled for a
 * target: for a cubin, the code it holds; for PTX, what compiling that PTX
 * for its own sm gives (the driver's JIT is the same compiler). */
typedef struct skv_kernel_resources {
  uint32_t registers;         /* per thread, at most SKV_PKG_MAX_REGISTERS */
  uint32_t shared_bytes;      /* static shared memory per block */
  uint32_t stack_bytes;       /* local memory per thread (stack frame) */
  uint32_t spill_store_bytes; /* bytes stored to local memory by spills */
  uint32_t spill_load_bytes;  /* bytes loaded back */
} skv_kernel_resources;

/* The argument lists, in order: X(name, type, access).
 *   type    DTYPE_PTR (the spec's dtype: bf16 or f16), F32_PTR, I32_PTR
 *           (global memory), I64, I32 (values)
 *   access  IN (read only, never aliased: the kernel may use the read-only
 *           path), OUT (written, never aliased), VALUE */
#define SKV_SPLIT_KERNEL_ARGS(X)                                               \
  /* [batch, q_len, num_q_heads, head_dim], contiguous */                      \
  X(q, DTYPE_PTR, IN)                                                          \
  /* element (b, t, h, d) at b*k_sb + t*k_st + h*k_sh + d, likewise v */       \
  X(k, DTYPE_PTR, IN)                                                          \
  X(v, DTYPE_PTR, IN)                                                          \
  /* [batch]: sequence b attends to tokens [0, seqlens[b]) */                  \
  X(seqlens, I32_PTR, IN)                                                      \
  /* [batch, q_len, num_q_heads, head_dim], contiguous */                      \
  X(out, DTYPE_PTR, OUT)                                                       \
  /* [batch, q_len, num_q_heads], natural log (never null: the runtime points  \
   * it at workspace when the caller wants none) */                            \
  X(lse, F32_PTR, OUT)                                                         \
  /* [batch, q_len, num_q_heads, num_splits, head_dim] */                      \
  X(part_out, F32_PTR, OUT)                                                    \
  /* [batch, q_len, num_q_heads, num_splits], natural log */                   \
  X(part_lse, F32_PTR, OUT)                                                    \
  /* strides in elements */                                                    \
  X(k_sb, I64, VALUE)                                                          \
  X(k_st, I64, VALUE)                                                          \
  X(k_sh, I64, VALUE)                                                          \
  X(v_sb, I64, VALUE)                                                          \
  X(v_st, I64, VALUE)                                                          \
  X(v_sh, I64, VALUE)                                                          \
  X(num_splits, I32, VALUE)                                                    \
  /* query tokens per sequence, 1 to max_query_len (a spec whose              \
   * max_query_len is 1 ignores it) */                                         \
  X(q_len, I32, VALUE)                                                         \
  /* BALANCED kernels (above; SPLIT kernels ignore them) */                    \
  X(batch, I32, VALUE)                                                         \
  /* balanced: [batch, 2], each sequence's first partial row and count */      \
  X(chunk_table, I32_PTR, OUT)

/* A paged spec's split kernels (kv_layout paged) take these after the list
 * above. k and v are then page pools: element (page p, slot s of the page,
 * head h, dim d) at p*k_sb + s*k_st + h*k_sh + d, likewise v (the batch
 * stride is the page stride). Token t of sequence b is slot t % page_size of
 * page pages[row + t / page_size], with row = b * page_row_stride (a padded
 * block table) when page_row_stride > 0, else page_rows[b] (the CSR form's
 * indptr). */
#define SKV_SPLIT_PAGED_ARGS(X)                                                \
  X(pages, I32_PTR, IN)                                                        \
  X(page_rows, I32_PTR, IN)                                                    \
  X(page_row_stride, I32, VALUE)

#define SKV_COMBINE_KERNEL_ARGS(X)                                             \
  /* the split kernel's partials, as above */                                  \
  X(part_out, F32_PTR, IN)                                                     \
  X(part_lse, F32_PTR, IN)                                                     \
  X(out, DTYPE_PTR, OUT)                                                       \
  X(lse, F32_PTR, OUT)                                                         \
  X(num_splits, I32, VALUE)                                                    \
  /* the split kernel's partition, and (balanced) its lengths and table */     \
  X(balanced, I32, VALUE)                                                      \
  X(seqlens, I32_PTR, IN)                                                      \
  X(chunk_table, I32_PTR, IN)                                                  \
  /* lanes per slice of 8 output dims */                                       \
  X(lanes, I32, VALUE)                                                         \
  /* query tokens per sequence, as the split kernel's */                       \
  X(q_len, I32, VALUE)                                                         \
  /* 0: the next kernel may launch at once; 1: only after this one's wait     \
   * (sm_90+) */                                                               \
  X(late, I32, VALUE)

/* The types and accesses as values, for the generator. */
typedef enum skv_abi_type {
  SKV_ABI_DTYPE_PTR,
  SKV_ABI_F32_PTR,
  SKV_ABI_I32_PTR,
  SKV_ABI_I64,
  SKV_ABI_I32,
} skv_abi_type;
typedef enum skv_abi_access { SKV_ABI_IN, SKV_ABI_OUT, SKV_ABI_VALUE } skv_abi_access;

/* The runtime's view of each type: what it passes for an argument. */
typedef uint64_t skv_abi_DTYPE_PTR; /* a device address */
typedef uint64_t skv_abi_F32_PTR;
typedef uint64_t skv_abi_I32_PTR;
typedef int64_t skv_abi_I64;
typedef int32_t skv_abi_I32;

/* One launch's arguments, a member per argument. */
#define SKV_ABI_MEMBER(name, type, access) skv_abi_##type name;
typedef struct skv_split_kernel_args {
  SKV_SPLIT_KERNEL_ARGS(SKV_ABI_MEMBER)
} skv_split_kernel_args;
/* A paged spec's split kernels' arguments after skv_split_kernel_args'. */
typedef struct skv_split_paged_kernel_args {
  SKV_SPLIT_PAGED_ARGS(SKV_ABI_MEMBER)
} skv_split_paged_kernel_args;
typedef struct skv_combine_kernel_args {
  SKV_COMBINE_KERNEL_ARGS(SKV_ABI_MEMBER)
} skv_combine_kernel_args;
#undef SKV_ABI_MEMBER

/* Expands to the addresses of an argument struct's members, in order:
 * `void *params[] = {SKV_SPLIT_KERNEL_ARGS(SKV_ABI_ADDRESS_OF)}` with a
 * pointer to skv_split_kernel_args named `args` in scope (cuLaunchKernelEx's
 * kernelParams). */
#define SKV_ABI_ADDRESS_OF(name, type, access) (void *)&args->name,
/* The same for SKV_SPLIT_PAGED_ARGS, from a pointer named `paged`. */
#define SKV_ABI_PAGED_ADDRESS_OF(name, type, access) (void *)&paged->name,

#endif /* SPLITKV_KERNEL_ABI_H */
