/* The loaded attention (load.c makes it, launch.c launches it), and the
 * driver-free half of loading and decode (plan.c): image choice, argument
 * checks, split choice and workspace layout, as pure functions of package
 * records and device properties. skv_attention_* call exactly these, and
 * the unit tests call them on machines without a GPU.
 *
 * Internal to the runtime (and its tests). */
#ifndef SPLITKV_RUNTIME_ATTENTION_INTERNAL_H
#define SPLITKV_RUNTIME_ATTENTION_INTERNAL_H

#include <cuda.h>

#include "splitkv/package_records.h"

/* What the call planning knows of the device for one launch of a split
 * kernel (one of the spec's SPLIT kernels, kernel_abi.h): its SMs, the
 * kernel's block and tokens per CTA loop step, how many such CTAs one SM
 * holds at once (registers, shared memory), and how many combine warps the
 * device holds beside a full wave of them, where they wait for it
 * (programmatic dependent launch); 0 when none wait there (no PDL, or no
 * registers left). */
typedef struct skv_device_fill {
  int sms;
  int split_threads;
  int cta_tokens;
  int ctas_per_sm;
  int combine_warps;
  /* K and V bytes from which a call's combine kernel lets the next kernel
   * launch only after its wait (0: never; without programmatic dependent
   * launch it has no say). */
  int64_t late_trigger_bytes;
} skv_device_fill;

/* Streaming time (µs at the device's peak memory bandwidth) from which the
 * combine kernel triggers late: on an H100, calls of 67 MB of K and V were
 * 0.1–1.0 µs faster with the early trigger and calls of 134 MB and more
 * 0.4–2.3 µs (about 1%) faster with the late one (docs/perf-log.md §39). */
#define SKV_LATE_TRIGGER_US 30

/* The device's peak memory bandwidth (bytes/s) times SKV_LATE_TRIGGER_US,
 * from its memory clock (kHz, double data rate) and bus width (bits). */
int64_t skv_late_trigger_bytes(int memory_clock_khz, int bus_width_bits);

/* The combine kernel's `late` argument (kernel_abi.h) for a call of q_len
 * query tokens: 1 when its K and V (batch x kv heads x the keys it attends
 * to, rows of head_dim elements each) reach fill.late_trigger_bytes. */
int skv_combine_late_choose(const skv_pkg_spec *spec, skv_device_fill fill, int batch,
                            int q_len, int max_seqlen);

/* Combine warps resident beside a full wave of split CTAs: each SM's
 * registers_per_sm are four quadrants, each running a quarter (rounded up)
 * of the SM's split warps; what is left holds combine warps. Registers are
 * allocated per warp in units of 256 (8 per thread). */
int skv_combine_warps_resident(int sms, int registers_per_sm, int ctas_per_sm,
                               int split_threads, int split_registers,
                               int combine_registers);

/* Lanes per slice of 8 output dims for the combine kernel of a call
 * (kernel_abi.h): 32, halved while the call's combine warps would not all
 * be resident (fill.combine_warps), one round of SKV_COMBINE_UNROLL loads
 * per lane still covers num_splits chunks, and the CTAs still cover a row
 * exactly. */
int skv_combine_lanes_choose(const skv_pkg_spec *spec, int combine_threads,
                             skv_device_fill fill, int batch, int q_len, int num_splits);

/* How calls cut their work (kernel_abi.h's partitions): chosen per call,
 * or one of the two always (SKV_PARTITION at create, runtime.h). */
typedef enum skv_partition {
  SKV_PARTITION_AUTO,
  SKV_PARTITION_UNIFORM,
  SKV_PARTITION_BALANCED,
} skv_partition;

/* The launches a loaded spec offers a call: a fill per split kernel, in the
 * package's order (count of them), the balanced kernel's at
 * SKV_BALANCED_LAUNCH, the combine kernel's block, and the partition
 * rule. */
typedef struct skv_launches {
  skv_device_fill fills[SKV_MAX_KERNELS];
  int count;
  int combine_threads;
  skv_partition partition;
} skv_launches;
#define SKV_BALANCED_LAUNCH (SKV_MAX_KERNELS - 1)

/* Workspace regions start at multiples of this many bytes. */
#define SKV_WORKSPACE_ALIGN 256

/* A decode call as its kernels see it, whatever its cache's layout: the
 * fields skv_decode_args and skv_paged_decode_args spell alike, K and V
 * (the cache, or the page pools) and the cache's six strides (K's, then
 * V's: per batch or page, token or slot, head), with the names the call
 * gives them, for errors. */
typedef struct skv_decode_call {
  const void *q, *k, *v;
  const int32_t *seqlens;
  void *out;
  float *lse;
  void *workspace;
  size_t workspace_size;
  int batch, max_seqlen, num_q_heads, num_kv_heads, head_dim, num_splits;
  int q_len; /* as given: 0 means 1 */
  int64_t strides[6];
  const char *k_name, *v_name;
  const char *stride_names[6];
} skv_decode_call;

/* How one decode call runs. Workspace layout (byte offsets, each region
 * SKV_WORKSPACE_ALIGN-aligned), with Q = q_len * num_q_heads rows per
 * sequence and R partial rows: batch * Q * num_splits (uniform; none when
 * num_splits == 1) or Q * (num_splits + batch) (balanced):
 *   part_out     f32[R * head_dim]
 *   part_lse     f32[R]
 *   chunk_table  i32[batch * 2], balanced only
 *   lse          f32[batch * Q], used when the caller wants no lse */
typedef struct skv_decode_plan {
  skv_decode_call call; /* the call's arguments, as checked */
  int q_len;         /* query tokens per sequence, 1 to max_query_len: the
                        split count and launch are this many tokens' */
  int num_splits;
  int balanced;      /* the partition: 0 uniform, 1 balanced */
  int launch;        /* the launch chosen, an index into the fills */
  int combine_lanes; /* with a combine kernel */
  int combine_late;  /* with a combine kernel: its late */
  size_t part_out_offset;
  size_t part_lse_offset;
  size_t chunk_table_offset;
  size_t lse_offset;
  size_t workspace_bytes; /* what this call needs: up to lse_offset when the
                             caller passes lse, else the whole layout */
} skv_decode_plan;

/* Split CTAs per sequence and chunk of a call of q_len query tokens: a
 * CTA per head tile of each kv head's q_len x G rows (target.h), grid y of
 * the split kernels (kernel_abi.h). */
static inline int64_t skv_head_ctas(const skv_pkg_spec *spec, int q_len) {
  return (int64_t)spec->num_kv_heads *
         skv_head_tiles((int)(spec->num_q_heads / spec->num_kv_heads) * q_len);
}

/* The split count for a call of q_len query tokens (see
 * skv_attention_num_splits) in the launch `fill` describes: override if
 * > 0, else the spec's fixed count, else the auto heuristic. Errors: INVALID_ARGUMENT for batch outside [1, 65535],
 * max_seqlen < 0, override outside [0, SKV_MAX_SPLITS]. */
skv_status skv_splits_choose(const skv_pkg_spec *spec, skv_device_fill fill, int batch,
                             int q_len, int max_seqlen, int num_splits_override,
                             int *out_num_splits);

/* The launch for a call among the spec's (the first, then any later one,
 * narrow before wide) and its split count: the one that puts more warps to
 * work in its first wave, and where they put as many (within 5%), a later
 * one only if it needs no combine kernel where the earlier one does, or the
 * earlier one cuts each row in 64 chunks or more. *out_fill is an index
 * into launches->fills. Errors: those of skv_splits_choose. */
skv_status skv_launch_choose(const skv_pkg_spec *spec, const skv_launches *launches,
                             int batch, int q_len, int max_seqlen, int num_splits_override,
                             int *out_fill, int *out_num_splits);

/* The partition, launch and split count of a call: skv_launch_choose's
 * uniform launch, or the balanced partition (kernel_abi.h) where
 * launches->partition asks for it or, in auto, where lengths up to
 * max_seqlen could leave most of the device idle: at least two sequences,
 * chunks of SKV_BALANCED_MIN_TOKENS or more in the uniform launch, and the
 * limits the balanced kernels keep (batch up to SKV_BALANCED_MAX_BATCH,
 * batch * max_seqlen below 2^30: its sums and ranges stay in i32).
 * Balanced, *out_fill is SKV_BALANCED_LAUNCH and *out_num_splits the
 * balanced kernel's CTAs per kv head (a wave of them). An override or the
 * spec's fixed count is always uniform. Errors: those of
 * skv_splits_choose. */
#define SKV_BALANCED_MIN_TOKENS 4096
#define SKV_BALANCED_MAX_BATCH 256
skv_status skv_partition_choose(const skv_pkg_spec *spec, const skv_launches *launches,
                                int batch, int q_len, int max_seqlen, int num_splits_override,
                                int *out_fill, int *out_num_splits, int *out_balanced);

/* Bytes of workspace for batch, q_len query tokens and num_splits in the
 * partition, the lse scratch included. */
size_t skv_workspace_bytes(const skv_pkg_spec *spec, int batch, int q_len, int num_splits,
                           int balanced);

/* What skv_attention_workspace_size reports: the most bytes any call of
 * these sizes needs, over q_len 1 to max_query_len, each in its own
 * partition and split count (fewer tokens may mean more chunks: a group of
 * 8 at 2 tokens is one head tile, at 3 two). Errors: those of
 * skv_partition_choose. */
skv_status skv_workspace_most(const skv_pkg_spec *spec, const skv_launches *launches,
                              int batch, int max_seqlen, int num_splits_override,
                              size_t *out_bytes);

/* Checks every field of args against spec (pointers non-null and 16-byte
 * aligned, sizes in range, q_len within the spec's max_query_len, heads
 * and head_dim equal to the spec's, strides
 * non-negative multiples of 8, workspace large enough) and plans the call
 * (its launch among fills: skv_launch_choose).
 * Errors: INVALID_ARGUMENT naming the field, its value and what was
 * expected. */
skv_status skv_decode_plan_make(const skv_pkg_spec *spec, const skv_launches *launches,
                                const skv_decode_args *args, skv_decode_plan *out_plan);

/* The same for a call on a paged cache (skv_attention_decode_paged's
 * checks). Errors: INVALID_ARGUMENT naming the field. */
skv_status skv_paged_decode_plan_make(const skv_pkg_spec *spec, const skv_launches *launches,
                                      const skv_paged_decode_args *args,
                                      skv_decode_plan *out_plan);

/* The page check (runtime.h, SKV_CHECK_PAGES) of sequence b, from host
 * copies: its length len against max_seqlen; with CSR, its row's page
 * count (indptr[b + 1] - indptr[b], csr_pages; -1 for a block table)
 * against the pages len needs; then ids, those pages (ceil(len /
 * page_size) of them, read from table[row], named in the message),
 * against [0, num_pages). Errors: INVALID_ARGUMENT naming the first bad
 * one. */
skv_status skv_page_check_sequence(int b, int len, int max_seqlen, int page_size,
                                   int64_t csr_pages, const int32_t *ids,
                                   const char *table, int64_t row, int num_pages);

/* The pages sequence b of len tokens reads: ceil(len / page_size). */
int64_t skv_pages_of(int len, int page_size);

/* Picks the image a device of compute capability device_sm (major * 10 +
 * minor) runs, among count records (a spec's images): a cubin for the same
 * major version and a minor no higher than the device's (cubins run on later
 * minors of their major, never across majors), the newest such; else the
 * PTX for the highest sm no higher than the device's (the driver JIT-compiles
 * PTX forward, never back). *out_index is the position in images. Errors:
 * UNSUPPORTED "device NAME (sm_XY) has no image in this package: it holds
 * sm_80 (cubin, ptx), ...", every target with the kinds it has. */
skv_status skv_image_choose(const skv_pkg_image *images, uint32_t count,
                            int device_sm, const char *device_name,
                            uint32_t *out_index);

/* ---- the loaded attention ----------------------------------------------- */

/* One spec's kernels loaded into a context: load.c creates it, launch.c
 * launches from it; immutable after creation. It keeps copies of the
 * package records it reads (the module holds the code), so the package may
 * be destroyed first (runtime.h). */
struct skv_attention {
  skv_pkg_spec spec_record;                        /* the spec's, copied */
  skv_kernel_desc kernel_records[SKV_MAX_KERNELS]; /* its kernels', copied */
  const skv_pkg_spec *spec;                        /* &spec_record */
  CUcontext context;                               /* the module's context */
  CUmodule module;
  /* Per launch (launches.fills[i], SKV_BALANCED_LAUNCH the balanced
   * kernel's): its split kernel's record (in kernel_records) and function. */
  const skv_kernel_desc *split_kernels[SKV_MAX_KERNELS];
  CUfunction split_functions[SKV_MAX_KERNELS];
  const skv_kernel_desc *combine_kernel; /* in kernel_records */
  CUfunction combine_function;
  skv_launches launches;
  skv_attention_image_info image;
  int check_pages; /* SKV_CHECK_PAGES=1 at create: the page check */
};

#endif /* SPLITKV_RUNTIME_ATTENTION_INTERNAL_H */
