/* The GPU harness shared by the GPU tests (test/gpu) and splitkv-bench
 * (tools/splitkv-bench): target splitkv_testing.
 *
 * Two parts:
 *  - skv_gpu: the runtime's table of CUDA driver entry points (memory,
 *    copies and timing included: cuda_driver.h), so nothing links libcuda
 *    and a machine without a driver gets a NO_DRIVER status to report as
 *    SKIPPED; plus device 0's primary context made current, which the
 *    runtime then uses.
 *  - skv_problem: one decode call's inputs on host and device, laid out
 *    [b, s, h, d] or [b, h, s, d] with a sequence capacity, random fill,
 *    output poisoning, the float64 reference and the comparison against it.
 *
 * Test code: single-threaded use of each object; skv_parallel_for spreads
 * the host-side work (fill, reference) over the CPUs. */
#ifndef SPLITKV_GPU_HARNESS_H
#define SPLITKV_GPU_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

#include "splitkv/reference.h"
#include "splitkv/cuda_driver.h"
#include "splitkv/package_records.h"
#include "splitkv/status.h"

/* ---- driver ------------------------------------------------------------- */

/* An open device: the runtime's driver table (cuda_driver.h: the entry
 * points the runtime calls, and those the tools call besides), device 0 and
 * its primary context. */
typedef struct skv_gpu {
  const skv_cuda_driver *cu; /* the runtime's table, borrowed */
  CUdevice device;
  CUcontext context;      /* primary context, retained, current */
  char name[256];
  int sm_count;
  int cc_major, cc_minor;
  int driver_version;     /* e.g. 13000 */
  size_t total_memory;
} skv_gpu;

/* Opens the driver through the runtime (skv_driver_init), takes device 0,
 * retains its primary context and makes it current on the calling thread.
 * Errors: NO_DRIVER (no library, a missing entry point, no device: the
 * reason to print with SKIPPED), CUDA_ERROR. On failure *gpu holds nothing
 * to close. */
skv_status skv_gpu_open(skv_gpu *gpu);

/* Releases the context. */
void skv_gpu_close(skv_gpu *gpu);

/* OK for CUDA_SUCCESS, else CUDA_ERROR "call: CUDA_ERROR_X (text)". */
skv_status skv_gpu_status(const skv_gpu *gpu, CUresult result,
                          const char *call, const char *file, int line);

/* Calls gpu->cu->fn(...) and returns its failure from the calling function. */
#define SKV_GPU_RETURN_IF_ERROR(gpu, fn, ...)                                  \
  SKV_RETURN_IF_ERROR_PLAIN(skv_gpu_status(                                    \
      (gpu), (gpu)->cu->fn(__VA_ARGS__), #fn, __FILE__, __LINE__))

/* Captures what enqueue(ctx, stream) launches on stream into a graph and
 * instantiates it: *graph and *exec are the caller's to destroy (either may
 * be set on failure). The capture is ended whatever enqueue returns, so the
 * stream never stays capturing. Errors: enqueue's, CUDA_ERROR. */
skv_status skv_gpu_capture(const skv_gpu *gpu, CUstream stream,
                           skv_status (*enqueue)(void *ctx, CUstream stream), void *ctx,
                           CUgraph *graph, CUgraphExec *exec);

/* ---- host helpers ------------------------------------------------------------ */

/* Runs fn(ctx, i) for every i in [0, n) on up to one thread per online CPU;
 * calls for distinct i must not conflict. */
void skv_parallel_for(int n, void (*fn)(void *ctx, int i), void *ctx);

/* A 64-bit mix of two values (splitmix64): independent random streams from
 * a seed and an index. */
uint64_t skv_seed_mix(uint64_t seed, uint64_t index);

/* Milliseconds on a monotonic clock, for host-side progress reports. */
double skv_host_ms(void);

/* ---- one decode problem --------------------------------------------------------- */

typedef enum skv_kv_order {
  SKV_ORDER_BSHD = 0, /* [batch, seq, head, dim] */
  SKV_ORDER_BHSD = 1, /* [batch, head, seq, dim] */
} skv_kv_order;

const char *skv_kv_order_name(skv_kv_order order);

/* How a paged spec's cache is laid out and listed (skv_paged_decode_args):
 * the page table's form, the pools' order, and whether K and V share one
 * allocation. */
typedef enum skv_page_table { SKV_TABLE_BLOCK = 0, SKV_TABLE_CSR = 1 } skv_page_table;
typedef enum skv_pool_order {
  SKV_POOL_NHD = 0, /* [pages, page_size, heads, dim] */
  SKV_POOL_HND = 1, /* [pages, heads, page_size, dim] */
} skv_pool_order;

const char *skv_page_table_name(skv_page_table table);
const char *skv_pool_order_name(skv_pool_order order);

typedef struct skv_problem_shape {
  int batch;
  const int32_t *seqlens; /* [batch], copied */
  int max_seqlen;         /* passed to decode; >= every seqlen */
  int seq_capacity;       /* tokens stored per sequence; >= max_seqlen */
  skv_kv_order order;     /* a contiguous cache's order (for a paged one,
                             the host's logical copy) */
  int num_splits;         /* 0: the spec's choice */
  int with_lse;           /* 0: decode gets lse NULL, only out is checked */
  int q_len;              /* query tokens per sequence (0: one) */
  /* A paged spec's pages: enough for every sequence's capacity, plus
   * spares; page ids a random permutation of the pool unless consecutive;
   * with shared_prefix, sequences 1.. reuse sequence 0's first pages where
   * both hold full pages (and the same tokens there), as prefix caching
   * does. */
  skv_page_table table;
  skv_pool_order pool;
  int interleaved;        /* K and V pages in one pool, [pages, 2, ...] */
  int consecutive;        /* page ids 0, 1, 2, ... in sequence order */
  int shared_prefix;
} skv_problem_shape;

/* Host arrays are 16-bit patterns of the spec's dtype (q and out [batch,
 * q_len, num_q_heads, head_dim]); device pointers are CUdeviceptr.
 * Everything is owned by the problem. */
typedef struct skv_problem {
  const skv_gpu *gpu;        /* borrowed */
  const skv_pkg_spec *spec;  /* borrowed from the attention */
  skv_problem_shape shape;   /* seqlens points at the problem's copy */
  int q_len;                 /* query tokens per sequence, at least 1 */
  int num_splits_used;       /* what the runtime picks for this shape */
  int split_threads_used;    /* and the launch it picks (narrow or wide) */
  int balanced_used;         /* and the partition: 1 balanced */
  int64_t stride_batch, stride_seq, stride_head; /* for K and V alike */
  size_t q_elems, kv_elems, out_elems, lse_elems;
  int32_t *seqlens;
  uint16_t *q, *k, *v;       /* host inputs */
  double *ref_out, *ref_lse; /* reference results */
  uint16_t *out;             /* device results, downloaded */
  float *lse;
  CUdeviceptr d_q, d_k, d_v, d_seqlens, d_out, d_lse, d_workspace;
  size_t workspace_size;
  /* A paged spec: the device holds K and V in pages (d_k and d_v point
   * into one allocation, d_pool), listed by page_ids; the host copy above
   * stays the logical one the reference reads. */
  int page_size;            /* 0: contiguous */
  int pages_per_seq;        /* ceil(seq_capacity / page_size) */
  int num_pages;            /* in the pool */
  int32_t *page_ids;        /* [batch, pages_per_seq] */
  int shared_pages;         /* pages sequences 1.. share with sequence 0 */
  int64_t page_stride, slot_stride, page_head_stride; /* for K and V alike */
  int table_stride;         /* the block table's row stride */
  int32_t *table;           /* block table, or CSR indices */
  int32_t *indptr;          /* CSR: [batch + 1] */
  size_t table_elems, pool_elems; /* allocated */
  size_t table_used;        /* entries the table holds (CSR: fewer) */
  uint16_t *pool;           /* host copy of the device pool */
  CUdeviceptr d_pool, d_table, d_indptr;
} skv_problem;

/* Allocates host and device memory for shape on attention's spec and asks
 * the runtime for the split count and workspace size. Errors:
 * INVALID_ARGUMENT (a bad shape), OUT_OF_MEMORY (host), CUDA_ERROR (device
 * memory), and what the runtime reports. */
skv_status skv_problem_create(const skv_gpu *gpu,
                              const skv_attention *attention,
                              const skv_problem_shape *shape,
                              skv_problem **out_problem);

void skv_problem_destroy(skv_problem *problem);

/* Fresh random inputs from seed: q, k and v drawn from a normal-ish
 * distribution (sum of four uniforms, mean 0, variance 1), q multiplied by
 * q_scale (a large one makes the softmax peaky). Every stored token past a
 * sequence's length is NaN: a kernel that reads one poisons its output. */
void skv_problem_fill(skv_problem *problem, uint64_t seed, float q_scale);

/* New lengths (each at most shape.max_seqlen) for the next fill: the
 * device buffers stay where they are (a captured CUDA graph still reads
 * them); a paged problem's page ids are dealt again from page_seed and its
 * table rebuilt. Errors: INVALID_ARGUMENT for a length out of range. */
skv_status skv_problem_set_lengths(skv_problem *problem, const int32_t *seqlens,
                                   uint64_t page_seed);

/* Copies q, k, v and seqlens to the device. */
skv_status skv_problem_upload(skv_problem *problem);

/* Fills out, lse and the workspace on the device with 0xFF bytes (NaN in
 * f16, bf16 and f32), so anything a kernel fails to write shows, and a
 * kernel that relied on workspace contents from before the call would
 * fail. */
skv_status skv_problem_poison(skv_problem *problem);

/* The decode arguments for the problem's device buffers (a contiguous
 * spec, or a paged one). */
skv_decode_args skv_problem_args(const skv_problem *problem);
skv_paged_decode_args skv_problem_paged_args(const skv_problem *problem);

/* Launches the decode call of the problem's layout on stream. */
skv_status skv_problem_decode(const skv_problem *problem, const skv_attention *attention,
                              CUstream stream);

/* Copies out and lse back to the host. */
skv_status skv_problem_download(skv_problem *problem);

/* The float64 reference for the (batch, kv head) pairs whose flag in
 * group_mask ([batch * num_kv_heads]) is set, or for all when it is NULL. */
void skv_problem_reference(skv_problem *problem, const uint8_t *group_mask);

/* How the downloaded results compare with the reference. */
typedef struct skv_problem_check {
  double rel_l2;          /* over every checked row */
  double worst_row_rel_l2;
  int worst_row_b, worst_row_h;
  double worst_lse_err;   /* |lse - ref| / max(1, |ref|), checked rows */
  int worst_lse_b, worst_lse_h;
  size_t nonfinite_out;   /* out elements NaN/inf, all rows */
  size_t bad_lse;         /* lse NaN, or -inf where the reference is not,
                             or finite where it is -inf */
  size_t rows_checked;
  int passed;
  char message[512];      /* why it failed; empty when passed */
} skv_problem_check;

/* Compares the rows of the masked groups (NULL: all) with the reference:
 * every out element of every row finite; the relative L2 error over all
 * checked rows and of each row within skv_dtype_error_bound; a sequence with
 * no tokens all zeros and lse exactly -inf; otherwise lse within
 * bound * max(1, |ref|) (see the explanation in skv_problem.c). */
void skv_problem_compare(const skv_problem *problem, const uint8_t *group_mask,
                         skv_problem_check *out_check);

#endif /* SPLITKV_GPU_HARNESS_H */
