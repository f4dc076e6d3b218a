/* splitkv runtime: open a kernel package, load a spec's kernels with the CUDA
 * driver API, launch split-KV decode attention.
 *
 * Depends on nothing but cuda.h at build time; the driver (libcuda.so.1) is
 * opened with dlopen on first use, so a machine without one gets
 * SKV_CODE_NO_DRIVER instead of a loader failure.
 *
 * Typical use:
 *   skv_package *pkg;   skv_package_open_file("llama.skvpkg", &pkg);
 *   skv_attention *att; skv_attention_create(pkg, "llama3_8b", &att);
 *   size_t ws;          skv_attention_workspace_size(att, batch, max_len, 0, &ws);
 *   ... fill skv_decode_args ...; skv_attention_decode(att, &args, stream);
 *   skv_attention_destroy(att); skv_package_destroy(pkg);
 *
 * Thread safety: packages and attentions are immutable after creation and may
 * be used from several threads at once; create/destroy are not concurrent
 * with use. */
#ifndef SPLITKV_RUNTIME_H
#define SPLITKV_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

#include "splitkv/status.h"
#include "splitkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- driver ------------------------------------------------------------ */

/* Opens the CUDA driver (once per process) and calls cuInit. Errors:
 * SKV_CODE_NO_DRIVER when libcuda cannot be opened, an entry point is missing
 * or no device exists. Every other runtime call that needs the driver calls
 * this itself. */
SKV_API skv_status skv_driver_init(void);

/* The CUDA driver entry point `symbol` as libcuda.so.1 exports it
 * (versioned names such as "cuMemAlloc_v2" included), from the driver the
 * runtime opened (calling skv_driver_init if needed): for an engine that
 * calls the driver without linking libcuda. *out_function stays valid for
 * the life of the process. Errors: those of skv_driver_init, NOT_FOUND (no
 * such entry point), INVALID_ARGUMENT (a NULL argument). */
SKV_API skv_status skv_driver_entry_point(const char *symbol, void **out_function);

/* ---- packages ---------------------------------------------------------- */

typedef struct skv_package skv_package;

/* Reads and verifies a package file. On success *out_package is owned by the
 * caller (skv_package_destroy). Errors: SKV_CODE_IO_ERROR (with the path),
 * SKV_CODE_CORRUPT_PACKAGE (what is wrong and where). Needs no driver. */
SKV_API skv_status skv_package_open_file(const char *path, skv_package **out_package);

/* Verifies a package held in memory and copies it; the caller keeps data
 * (a package embedded with `splitkv-compile --emit=c` is opened this way). */
SKV_API skv_status skv_package_open_memory(const void *data, size_t size,
                                   skv_package **out_package);

/* Frees the package. Attentions created from it stay valid: each keeps
 * copies of the records it reads, so the two may be destroyed in either
 * order. */
SKV_API void skv_package_destroy(skv_package *package);

/* The SHA-256 of the package file as opened, its 32 bytes into
 * out_digest: an identity an engine can pin. The package's own checksum
 * (checked at open) detects damage, not tampering: to trust a package,
 * compare this digest with one from a source you trust. */
SKV_API void skv_package_digest(const skv_package *package, uint8_t out_digest[32]);

/* The number of specs in the package. */
SKV_API uint32_t skv_package_spec_count(const skv_package *package);

/* What a spec describes, as its package records it. */
typedef struct skv_spec_info {
  const char *name;    /* borrowed: from skv_package_spec_info, valid while
                          the package is open; from skv_attention_info,
                          while the attention lives */
  skv_dtype dtype;     /* of q, k, v and the output */
  int head_dim;
  int num_q_heads;
  int num_kv_heads;    /* divides num_q_heads */
  int splits;          /* a fixed split count, or 0: chosen per call */
  float softmax_scale; /* compiled into the kernels */
  skv_kv_layout kv_layout; /* decoded by skv_attention_decode (contiguous)
                              or skv_attention_decode_paged (paged) */
  int page_size;       /* tokens per page of a paged cache; 0 otherwise */
  float logit_softcap; /* C: scores C*tanh(s*scale/C); 0: none */
  int sliding_window;  /* a query attends to its sequence's last W tokens;
                          0: to every token */
  int max_query_len;   /* the most query tokens per sequence a call gives
                          (q_len): 1 for plain decode */
} skv_spec_info;

/* Fills *out_info for spec `index` (0 to skv_package_spec_count - 1) of the
 * package. Errors: INVALID_ARGUMENT for a NULL pointer or an index out of
 * range. */
SKV_API skv_status skv_package_spec_info(const skv_package *package, uint32_t index,
                                         skv_spec_info *out_info);

/* ---- attention --------------------------------------------------------- */

/* One spec's kernels, loaded into the CUDA context current on this thread
 * (the runtime creates none: it uses the current context, or the device 0
 * primary context when none is current; that one it retains, makes current
 * and keeps for the life of the process, as the CUDA runtime does). */
typedef struct skv_attention skv_attention;

/* Loads spec `name` from the package (borrowed for the call: the attention
 * keeps copies of the records it needs, so the package may be destroyed
 * before it) for the current device: picks the image for its compute
 * capability (a cubin of the same major version and a minor no higher than
 * the device's, the newest such; else the newest PTX no newer than the
 * device, which the driver JIT-compiles), loads the module, looks up both
 * kernels and raises their shared memory limit when they need more than
 * 48 KB (checked against the device's opt-in limit). Errors: NOT_FOUND (no
 * such spec, listing those the package has), UNSUPPORTED (no image this
 * device can run, naming the device and the targets the spec has; or more
 * threads or shared memory than the device gives; or heads x head_dim too
 * large for the runtime's 64-bit sizes, naming them), INVALID_ARGUMENT
 * (SKV_CHECK_PAGES set to other than 0 or 1), NO_DRIVER, CUDA_ERROR. */
SKV_API skv_status skv_attention_create(const skv_package *package, const char *name,
                                skv_attention **out_attention);

SKV_API void skv_attention_destroy(skv_attention *attention);

/* Fills *out_info with the spec of a loaded attention (its name is
 * borrowed from the attention). */
SKV_API void skv_attention_info(const skv_attention *attention, skv_spec_info *out_info);

/* Which image skv_attention_create loaded, and what loading it cost. */
typedef struct skv_attention_image_info {
  skv_image_kind kind; /* CUBIN: machine code loaded as is; PTX: compiled by
                          the driver's JIT while loading */
  uint32_t sm;         /* the target the image was built for, e.g. 90 */
  double load_us;      /* wall time of the module load (cuModuleLoadDataEx),
                          JIT included, in microseconds */
} skv_attention_image_info;

/* Fills *out_info for a loaded attention. */
SKV_API void skv_attention_image(const skv_attention *attention,
                         skv_attention_image_info *out_info);

/* A spec of several query tokens (max_query_len > 1) plans each call for
 * its own q_len (its head tiles, kernel_abi.h): the three functions below
 * describe a call of max_query_len tokens, and
 * skv_attention_workspace_size is the most any q_len needs. */

/* The split count a call with these sizes uses, in the launch
 * skv_attention_split_threads picks: the spec's fixed count, or with splits
 * auto as many chunks per (batch, kv head) as fill the device in one wave
 * (SMs x the launch's CTAs per SM, over batch x kv heads), each at
 * least tokens_per_step / warps tokens (a warp's loop step, 16 at head_dim
 * 128, 32 at 64; 8 at 256, whose warps share their steps in pairs), at most
 * one chunk per SM; one chunk when max_seqlen is at most one loop step of
 * the CTA (tokens_per_step, twice that in the wide launch).
 * num_splits_override > 0 (up to 256) replaces either. A call in the
 * balanced partition (skv_attention_balanced) gets its CTAs per kv head
 * instead: a wave of the device, each taking 1/count of the batch's
 * tokens. */
SKV_API skv_status skv_attention_num_splits(const skv_attention *attention, int batch,
                                    int max_seqlen, int num_splits_override,
                                    int *out_num_splits);

/* Whether a call with these sizes cuts its work by the batch's actual
 * lengths (*out_balanced 1) rather than the same chunks for every
 * sequence (0). Balanced, the split kernel reads all of seqlens first and
 * gives each of its CTAs the same share of the batch's tokens, so that a
 * batch of one long sequence among many short ones runs as fast per token
 * as a uniform one; its count (skv_attention_num_splits) is then the CTAs
 * per kv head, a wave of the launch a single sequence would get, and the
 * combine kernel always runs. Chosen from the sizes alone (a call under
 * stream capture keeps it for any lengths), by the environment variable
 * SKV_PARTITION read at create: auto (the default: balanced with splits
 * auto, at least 2 and at most 256 sequences, batch * max_seqlen below
 * 2^30 and max_seqlen at least 4096 tokens per chunk of the uniform
 * count), uniform (never balanced), or balanced (every call with splits
 * auto). Errors: those of
 * skv_attention_num_splits. */
SKV_API skv_status skv_attention_balanced(const skv_attention *attention, int batch,
                                          int max_seqlen, int num_splits_override,
                                          int *out_balanced);

/* The threads per split CTA a call with these sizes launches: the spec's
 * narrow launch (two CTAs per SM), or where the spec has a wide one (one
 * CTA per SM, twice the warps) and it puts more warps to work in its first
 * wave, or as many with one chunk where the narrow launch needs several
 * (batch 16 of 8 kv heads on an H100) or with half the narrow launch's 64
 * or more chunks (batch 1 of 2 kv heads), the wide one. The split count of
 * skv_attention_num_splits is that launch's. Errors: those of
 * skv_attention_num_splits. */
SKV_API skv_status skv_attention_split_threads(const skv_attention *attention, int batch,
                                       int max_seqlen, int num_splits_override,
                                       int *out_threads);

/* Bytes of device workspace a decode call with these sizes needs at most:
 * with more than one split, the partial outputs and LSEs
 * (f32[batch * R * splits * (head_dim + 1)] with R = max_query_len *
 * num_q_heads rows per sequence; balanced, f32[R * (splits + batch) *
 * (head_dim + 1)] and i32[batch * 2]), and always room for the LSE when
 * the caller passes lse NULL (f32[batch * R]), each region rounded up to
 * 256 bytes. A call that passes lse may be given less:
 * decode checks against what that call needs. The workspace needs no
 * initialisation; calls running at the same time need workspaces of their
 * own. */
SKV_API skv_status skv_attention_workspace_size(const skv_attention *attention,
                                        int batch, int max_seqlen,
                                        int num_splits_override,
                                        size_t *out_bytes);

/* One decode step's tensors (device pointers, 16-byte aligned) and sizes.
 * Strides are in elements; the innermost (head_dim) stride is 1.
 * q_len query tokens per sequence (speculative decoding's drafts): token i
 * of sequence b sits at position seqlens[b] - q_len + i, its K and V
 * already in the cache, and attends to the keys up to its own (causal,
 * bottom-right aligned); one with none gets out 0 and lse -inf.
 * [batch, seq, heads, dim] cache: stride_batch = seq_cap*heads*dim,
 * stride_seq = heads*dim, stride_head = dim. [batch, heads, seq, dim]:
 * stride_batch = heads*seq_cap*dim, stride_seq = dim, stride_head =
 * seq_cap*dim. */
typedef struct skv_decode_args {
  const void *q;         /* [batch, q_len, num_q_heads, head_dim],
                            contiguous */
  const void *k;
  const void *v;
  const int32_t *seqlens; /* [batch], device, each in [0, max_seqlen]; on
                             sm_90 read once before the kernel before has
                             finished, to warm L2 (kernel_abi.h): any value
                             it holds then, old or new, is a length the
                             cache holds */
  void *out;             /* [batch, q_len, num_q_heads, head_dim],
                            contiguous */
  float *lse;            /* [batch, q_len, num_q_heads] natural log, or
                            NULL */
  void *workspace;       /* skv_attention_workspace_size bytes (any
                            contents), or NULL if 0 */
  size_t workspace_size;
  int batch;
  int max_seqlen;        /* upper bound of seqlens; drives the split count */
  int num_q_heads;       /* must match the spec */
  int num_kv_heads;      /* must match the spec */
  int head_dim;          /* must match the spec */
  int64_t k_stride_batch, k_stride_seq, k_stride_head;
  int64_t v_stride_batch, v_stride_seq, v_stride_head;
  int num_splits;        /* 0: the spec's choice; > 0 overrides it */
  int q_len;             /* query tokens per sequence, 1 to the spec's
                            max_query_len; 0 means 1 */
} skv_decode_args;

/* Launches decode attention on stream: the split kernel, then with more
 * than one split or the balanced partition the combine kernel (asynchronous; errors of the kernels
 * themselves surface at the next synchronisation). On sm_90 and newer both
 * are programmatic dependent launches (kernel_abi.h): each may start while
 * the kernel before it in the stream finishes, and waits for it before
 * touching memory. Every argument is checked
 * first: null or misaligned pointers, shapes that do not match the spec,
 * strides that are not multiples of 8 elements, too small a workspace
 * (seqlens lives on the device and is not checked). The attention's context
 * must be current, or none (it is then made current). Errors:
 * INVALID_ARGUMENT naming the argument, CUDA_ERROR. */
SKV_API skv_status skv_attention_decode(const skv_attention *attention,
                                        const skv_decode_args *args, CUstream stream);

/* One decode step over a paged KV cache (a spec with kv_layout paged and
 * its page_size P): the same tensors and sizes as skv_decode_args, with K
 * and V in page pools and a page table.
 *
 * Pools: element (page p, slot s of the page, kv head h, dim d) of K at
 * p*k_stride_page + s*k_stride_slot + h*k_stride_head + d, likewise V; so
 * [num_pages, P, heads, dim] (stride_page = P*heads*dim, stride_slot =
 * heads*dim, stride_head = dim), [num_pages, heads, P, dim] (stride_head =
 * P*dim, stride_slot = dim) and K and V interleaved in one allocation
 * ([num_pages, 2, ...]: v_pages = k_pages + one K page, stride_page twice
 * a page) all work without copies.
 *
 * Table, one of the two forms: a padded block table (block_table,
 * [batch, block_table_stride]: sequence b's i-th page is block_table[b *
 * block_table_stride + i]), or CSR (page_indptr [batch + 1], page_indices:
 * sequence b's pages are page_indices[page_indptr[b] .. page_indptr[b + 1])).
 * Token t of sequence b is slot t % P of its page t / P.
 *
 * The caller's contract, on the device: every page id a sequence of
 * seqlens[b] tokens uses (its first ceil(seqlens[b] / P)) is a page of the
 * pools; pages may come in any order, be shared between sequences, and page
 * 0 is a page like any other. Entries past a sequence's pages are never
 * read.
 *
 * The page check: with SKV_CHECK_PAGES=1 in the environment when an
 * attention is created, each of its paged calls first waits for the
 * stream, copies seqlens and the pages each sequence uses to the host, and
 * fails with INVALID_ARGUMENT naming the first bad one (a length outside
 * [0, max_seqlen], a CSR row with too few pages, a page id outside [0,
 * num_pages)) instead of launching. It is for debugging: it synchronises
 * every call and cannot run under stream capture. */
typedef struct skv_paged_decode_args {
  const void *q;          /* [batch, q_len, num_q_heads, head_dim],
                             contiguous */
  const void *k_pages;    /* the K page pool */
  const void *v_pages;    /* the V page pool */
  int64_t k_stride_page, k_stride_slot, k_stride_head;
  int64_t v_stride_page, v_stride_slot, v_stride_head;
  const int32_t *block_table; /* [batch, block_table_stride], or NULL for CSR */
  int block_table_stride;     /* >= ceil(max_seqlen / P) */
  const int32_t *page_indptr; /* [batch + 1], or NULL for a block table */
  const int32_t *page_indices;
  int num_pages;          /* pages in each pool: needed by the page check
                             (below), else 0 or the count, never read */
  const int32_t *seqlens; /* [batch], device, each in [0, max_seqlen]; as in
                             skv_decode_args */
  void *out;              /* [batch, q_len, num_q_heads, head_dim],
                             contiguous */
  float *lse;             /* [batch, q_len, num_q_heads] natural log, or
                             NULL */
  void *workspace;        /* skv_attention_workspace_size bytes, or NULL if 0 */
  size_t workspace_size;
  int batch;
  int max_seqlen;         /* upper bound of seqlens; drives the split count */
  int num_q_heads;        /* must match the spec */
  int num_kv_heads;       /* must match the spec */
  int head_dim;           /* must match the spec */
  int num_splits;         /* 0: the spec's choice; > 0 overrides it */
  int q_len;              /* as in skv_decode_args */
} skv_paged_decode_args;

/* Launches decode attention over a paged cache, as skv_attention_decode
 * does over a contiguous one. Every argument is checked first, as there,
 * and: the spec is paged; exactly one table form is given; a block table's
 * row holds the pages of max_seqlen tokens; the table pointers are 4-byte
 * aligned; num_pages is not negative, and positive under the page check.
 * What lives on the device, page ids and seqlens, is checked only by the
 * page check. Errors: INVALID_ARGUMENT naming the argument (or, page check,
 * the bad length or page id and where it is), CUDA_ERROR. */
SKV_API skv_status skv_attention_decode_paged(const skv_attention *attention,
                                              const skv_paged_decode_args *args,
                                              CUstream stream);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_RUNTIME_H */
