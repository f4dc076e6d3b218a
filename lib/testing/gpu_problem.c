/* One decode problem on host and device: fill, poison, reference, compare
 * (see gpu_harness.h). */
#include "gpu_harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *skv_kv_order_name(skv_kv_order order) {
  return order == SKV_ORDER_BSHD ? "bshd" : "bhsd";
}

const char *skv_page_table_name(skv_page_table table) {
  return table == SKV_TABLE_BLOCK ? "block-table" : "csr";
}

const char *skv_pool_order_name(skv_pool_order order) {
  return order == SKV_POOL_NHD ? "nhd" : "hnd";
}

/* A block table's entries past a sequence's pages: a page id far past the
 * pool, so that a kernel reading one faults instead of passing. */
#define SKV_UNUSED_PAGE 0x7fff0000

static int skv_problem_group_count(const skv_problem *p) {
  return p->shape.batch * (int)p->spec->num_kv_heads;
}

static skv_status skv_problem_check_shape(const skv_problem_shape *shape) {
  if (shape->batch < 1)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, "batch %d", shape->batch);
  /* At least one stored token, so no buffer is empty. */
  if (shape->max_seqlen < 0 || shape->seq_capacity < shape->max_seqlen ||
      shape->seq_capacity < 1)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "max_seqlen %d, seq_capacity %d", shape->max_seqlen,
                     shape->seq_capacity);
  for (int b = 0; b < shape->batch; ++b)
    if (shape->seqlens[b] < 0 || shape->seqlens[b] > shape->max_seqlen)
      return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                       "seqlens[%d] = %d, max_seqlen %d", b, shape->seqlens[b],
                       shape->max_seqlen);
  return SKV_OK;
}

static skv_status skv_device_alloc(const skv_gpu *gpu, CUdeviceptr *out,
                                   size_t bytes) {
  return skv_gpu_status(gpu, gpu->cu->cuMemAlloc(out, bytes),
                        "cuMemAlloc", __FILE__, __LINE__);
}

/* ---- pages ------------------------------------------------------------------- */

/* Pages sequence b shares with sequence 0 (shape.shared_prefix): the full
 * pages both hold tokens in. */
static int skv_problem_shared_pages(const skv_problem *p, int b) {
  if (!p->shape.shared_prefix || b == 0)
    return 0;
  int32_t len = p->seqlens[0] < p->seqlens[b] ? p->seqlens[0] : p->seqlens[b];
  return len / p->page_size;
}

/* The page ids and the table, from the lengths: every sequence gets the
 * pages of its capacity, two spare pages stay unused, ids are a
 * permutation of the pool (page_seed) unless consecutive, shared prefixes
 * reuse sequence 0's ids; a block table with a row stride one past the
 * pages, its unused entries poisoned, or CSR listing each sequence's pages
 * of its tokens only. */
static skv_status skv_problem_assign_pages(skv_problem *p, uint64_t page_seed) {
  const int64_t P = p->page_size;
  const int batch = p->shape.batch;
  int32_t *order = malloc((size_t)p->num_pages * sizeof *order);
  if (!order)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "page order of %d pages", p->num_pages);
  for (int i = 0; i < p->num_pages; ++i)
    order[i] = i;
  uint64_t state = skv_seed_mix(page_seed, 0) | 1;
  for (int i = p->num_pages - 1; i > 0 && !p->shape.consecutive; --i) {
    state = skv_seed_mix(state, (uint64_t)i);
    int j = (int)(state % (uint64_t)(i + 1));
    int32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < p->pages_per_seq; ++i)
      p->page_ids[b * p->pages_per_seq + i] =
          i < skv_problem_shared_pages(p, b) ? order[i] : order[b * p->pages_per_seq + i];
  free(order);
  p->indptr[0] = 0;
  size_t entries = 0;
  for (int b = 0; b < batch; ++b) {
    int used = (int)((p->seqlens[b] + P - 1) / P);
    for (int i = 0; i < p->table_stride; ++i) {
      int32_t id = i < p->pages_per_seq ? p->page_ids[b * p->pages_per_seq + i]
                                        : SKV_UNUSED_PAGE;
      if (p->shape.table == SKV_TABLE_BLOCK)
        p->table[(size_t)b * p->table_stride + i] = id;
      else if (i < used)
        p->table[entries++] = id;
    }
    p->indptr[b + 1] = (int32_t)entries;
  }
  p->table_used = p->shape.table == SKV_TABLE_BLOCK ? p->table_elems : entries;
  return SKV_OK;
}

/* The pool and the table, sized for the capacity. */
static skv_status skv_problem_allocate_pages(skv_problem *p) {
  const skv_problem_shape *shape = &p->shape;
  const int64_t P = p->page_size, heads = p->spec->num_kv_heads, dim = p->spec->head_dim;
  const int batch = shape->batch;
  p->pages_per_seq = (int)((shape->seq_capacity + P - 1) / P);
  p->num_pages = batch * p->pages_per_seq + 2;
  const int64_t page_elems = P * heads * dim;
  if (shape->pool == SKV_POOL_NHD) {
    p->slot_stride = heads * dim;
    p->page_head_stride = dim;
  } else {
    p->slot_stride = dim;
    p->page_head_stride = P * dim;
  }
  p->page_stride = shape->interleaved ? 2 * page_elems : page_elems;
  p->pool_elems = (size_t)p->num_pages * (size_t)page_elems * 2;
  p->page_ids = malloc((size_t)batch * (size_t)p->pages_per_seq * sizeof *p->page_ids);
  p->table_stride = p->pages_per_seq + 1;
  p->table_elems = (size_t)batch * (size_t)p->table_stride;
  p->table = malloc(p->table_elems * sizeof *p->table);
  p->indptr = malloc(((size_t)batch + 1) * sizeof *p->indptr);
  p->pool = malloc(p->pool_elems * sizeof *p->pool);
  if (!p->page_ids || !p->table || !p->indptr || !p->pool)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "host memory for %d pages", p->num_pages);
  SKV_RETURN_IF_ERROR_PLAIN(skv_problem_assign_pages(
      p, skv_seed_mix(0x9a9e5, (uint64_t)batch * 1000003u + shape->seq_capacity)));

  const skv_gpu *gpu = p->gpu;
  SKV_RETURN_IF_ERROR(skv_device_alloc(gpu, &p->d_pool, p->pool_elems * 2),
                      "K and V pools of %zu bytes", p->pool_elems * 2);
  p->d_k = p->d_pool;
  p->d_v = p->d_pool + (CUdeviceptr)(shape->interleaved ? page_elems
                                                         : p->num_pages * page_elems) * 2;
  SKV_RETURN_IF_ERROR_PLAIN(skv_device_alloc(gpu, &p->d_table, p->table_elems * 4));
  return skv_device_alloc(gpu, &p->d_indptr, ((size_t)batch + 1) * 4);
}

skv_status skv_problem_set_lengths(skv_problem *p, const int32_t *seqlens, uint64_t page_seed) {
  for (int b = 0; b < p->shape.batch; ++b)
    if (seqlens[b] < 0 || seqlens[b] > p->shape.max_seqlen)
      return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, "seqlens[%d] = %d, max_seqlen %d", b,
                       seqlens[b], p->shape.max_seqlen);
  memcpy(p->seqlens, seqlens, (size_t)p->shape.batch * sizeof *p->seqlens);
  return p->page_size ? skv_problem_assign_pages(p, page_seed) : SKV_OK;
}

static skv_status skv_problem_allocate(skv_problem *p) {
  const skv_pkg_spec *spec = p->spec;
  const int64_t dim = spec->head_dim;
  const int64_t kv_heads = spec->num_kv_heads;
  const int64_t cap = p->shape.seq_capacity;
  if (p->shape.order == SKV_ORDER_BSHD) {
    p->stride_head = dim;
    p->stride_seq = kv_heads * dim;
  } else {
    p->stride_seq = dim;
    p->stride_head = cap * dim;
  }
  p->stride_batch = cap * kv_heads * dim;
  p->q_elems = (size_t)p->shape.batch * p->q_len * spec->num_q_heads * dim;
  p->kv_elems = (size_t)p->shape.batch * (size_t)p->stride_batch;
  p->out_elems = p->q_elems;
  p->lse_elems = (size_t)p->shape.batch * p->q_len * spec->num_q_heads;

  p->seqlens = malloc((size_t)p->shape.batch * sizeof *p->seqlens);
  p->q = malloc(p->q_elems * sizeof *p->q);
  p->k = malloc(p->kv_elems * sizeof *p->k);
  p->v = malloc(p->kv_elems * sizeof *p->v);
  p->ref_out = malloc(p->out_elems * sizeof *p->ref_out);
  p->ref_lse = malloc(p->lse_elems * sizeof *p->ref_lse);
  p->out = malloc(p->out_elems * sizeof *p->out);
  p->lse = malloc(p->lse_elems * sizeof *p->lse);
  if (!p->seqlens || !p->q || !p->k || !p->v || !p->ref_out || !p->ref_lse ||
      !p->out || !p->lse)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                     "host memory for a problem with %zu KV elements",
                     p->kv_elems);
  memcpy(p->seqlens, p->shape.seqlens,
         (size_t)p->shape.batch * sizeof *p->seqlens);
  p->shape.seqlens = p->seqlens;

  const skv_gpu *gpu = p->gpu;
  SKV_RETURN_IF_ERROR_PLAIN(skv_device_alloc(gpu, &p->d_q, p->q_elems * 2));
  if (p->page_size) {
    SKV_RETURN_IF_ERROR_PLAIN(skv_problem_allocate_pages(p));
  } else {
    SKV_RETURN_IF_ERROR(skv_device_alloc(gpu, &p->d_k, p->kv_elems * 2),
                        "K cache of %zu bytes", p->kv_elems * 2);
    SKV_RETURN_IF_ERROR(skv_device_alloc(gpu, &p->d_v, p->kv_elems * 2),
                        "V cache of %zu bytes", p->kv_elems * 2);
  }
  SKV_RETURN_IF_ERROR_PLAIN(skv_device_alloc(
      gpu, &p->d_seqlens, (size_t)p->shape.batch * sizeof(int32_t)));
  SKV_RETURN_IF_ERROR_PLAIN(skv_device_alloc(gpu, &p->d_out, p->out_elems * 2));
  SKV_RETURN_IF_ERROR_PLAIN(
      skv_device_alloc(gpu, &p->d_lse, p->lse_elems * sizeof(float)));
  if (p->workspace_size) {
    SKV_RETURN_IF_ERROR(
        skv_device_alloc(gpu, &p->d_workspace, p->workspace_size),
        "workspace of %zu bytes", p->workspace_size);
  }
  return SKV_OK;
}

skv_status skv_problem_create(const skv_gpu *gpu,
                              const skv_attention *attention,
                              const skv_problem_shape *shape,
                              skv_problem **out_problem) {
  *out_problem = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(skv_problem_check_shape(shape));
  skv_problem *p = calloc(1, sizeof *p);
  if (!p)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "skv_problem");
  p->gpu = gpu;
  p->spec = skv_attention_record(attention);
  p->shape = *shape;
  p->q_len = shape->q_len > 0 ? shape->q_len : 1;
  p->page_size = p->spec->kv_layout == SKV_KV_PAGED ? p->spec->page_size : 0;
  skv_status status = skv_attention_num_splits(
      attention, shape->batch, shape->max_seqlen, shape->num_splits,
      &p->num_splits_used);
  if (!status)
    status = skv_attention_split_threads(attention, shape->batch, shape->max_seqlen,
                                         shape->num_splits, &p->split_threads_used);
  if (!status)
    status = skv_attention_balanced(attention, shape->batch, shape->max_seqlen,
                                    shape->num_splits, &p->balanced_used);
  if (!status)
    status = skv_attention_workspace_size(attention, shape->batch,
                                          shape->max_seqlen, shape->num_splits,
                                          &p->workspace_size);
  if (!status)
    status = skv_problem_allocate(p);
  if (status) {
    skv_problem_destroy(p);
    return status;
  }
  *out_problem = p;
  return SKV_OK;
}

void skv_problem_destroy(skv_problem *p) {
  if (!p)
    return;
  CUdeviceptr device[] = {p->d_q,   p->page_size ? 0 : p->d_k,
                          p->page_size ? 0 : p->d_v, p->d_seqlens,
                          p->d_out, p->d_lse, p->d_workspace, p->d_pool,
                          p->d_table, p->d_indptr};
  for (size_t i = 0; i < sizeof device / sizeof device[0]; ++i)
    if (device[i])
      p->gpu->cu->cuMemFree(device[i]);
  free(p->seqlens);
  free(p->q);
  free(p->k);
  free(p->v);
  free(p->ref_out);
  free(p->ref_lse);
  free(p->out);
  free(p->lse);
  free(p->page_ids);
  free(p->table);
  free(p->indptr);
  free(p->pool);
  free(p);
}

/* ---- random fill ---------------------------------------------------------------- */

typedef struct skv_rng {
  uint64_t state;
} skv_rng;

static uint64_t skv_rng_next(skv_rng *rng) { /* xorshift64* */
  rng->state ^= rng->state >> 12;
  rng->state ^= rng->state << 25;
  rng->state ^= rng->state >> 27;
  return rng->state * 0x2545F4914F6CDD1Dull;
}

/* Irwin-Hall with four 16-bit uniforms from one draw: mean 0, variance 1,
 * bounded by +-2*sqrt(3). Close enough to a normal for attention inputs and
 * a few times cheaper than Box-Muller, which matters at 10^9 elements. */
static float skv_rng_normalish(skv_rng *rng) {
  uint64_t r = skv_rng_next(rng);
  uint32_t sum = (uint32_t)(r & 0xFFFF) + (uint32_t)((r >> 16) & 0xFFFF) +
                 (uint32_t)((r >> 32) & 0xFFFF) + (uint32_t)(r >> 48);
  return ((float)(sum + 2) * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

typedef struct skv_fill_job {
  skv_problem *problem;
  uint64_t seed;
} skv_fill_job;

/* Work item i is one (batch, kv head): its K and V rows for every stored
 * token, each from its own random stream, so the result does not depend on
 * how items land on threads. */
static void skv_fill_group(void *ctx, int i) {
  const skv_fill_job *job = ctx;
  skv_problem *p = job->problem;
  const skv_dtype dtype = (skv_dtype)p->spec->dtype;
  const int dim = (int)p->spec->head_dim;
  const int kv_heads = (int)p->spec->num_kv_heads;
  const int b = i / kv_heads, h = i % kv_heads;
  const uint16_t poison = skv_dtype_from_float(dtype, NAN);
  skv_rng rng = {skv_seed_mix(job->seed, 1 + (uint64_t)i) | 1};
  for (int t = 0; t < p->shape.seq_capacity; ++t) {
    int64_t at = b * p->stride_batch + t * p->stride_seq + h * p->stride_head;
    uint16_t *k = p->k + at, *v = p->v + at;
    if (t >= p->seqlens[b]) {
      for (int d = 0; d < dim; ++d)
        k[d] = v[d] = poison;
      continue;
    }
    for (int d = 0; d < dim; ++d) {
      k[d] = skv_dtype_from_float(dtype, skv_rng_normalish(&rng));
      v[d] = skv_dtype_from_float(dtype, skv_rng_normalish(&rng));
    }
  }
}

/* Sequences 1.. hold sequence 0's tokens where they share its pages. */
static void skv_problem_share_prefixes(skv_problem *p) {
  const int dim = (int)p->spec->head_dim, kv_heads = (int)p->spec->num_kv_heads;
  for (int b = 1; b < p->shape.batch; ++b) {
    int tokens = skv_problem_shared_pages(p, b) * p->page_size;
    for (int t = 0; t < tokens; ++t)
      for (int h = 0; h < kv_heads; ++h) {
        int64_t from = t * p->stride_seq + h * p->stride_head;
        int64_t to = b * p->stride_batch + from;
        memcpy(p->k + to, p->k + from, (size_t)dim * sizeof *p->k);
        memcpy(p->v + to, p->v + from, (size_t)dim * sizeof *p->v);
      }
  }
}

/* Work item i is one (batch, kv head): its rows, every stored token's, into
 * their pages (the pool was poisoned whole first; a shared page is written
 * by sequence 0 alone). */
static void skv_scatter_group(void *ctx, int i) {
  skv_problem *p = ctx;
  const int dim = (int)p->spec->head_dim, kv_heads = (int)p->spec->num_kv_heads;
  const int b = i / kv_heads, h = i % kv_heads;
  const int64_t v_offset = (int64_t)((p->d_v - p->d_k) / 2);
  for (int t = skv_problem_shared_pages(p, b) * p->page_size; t < p->shape.seq_capacity; ++t) {
    int32_t page = p->page_ids[b * p->pages_per_seq + t / p->page_size];
    int64_t to = page * p->page_stride + (t % p->page_size) * p->slot_stride +
                 h * p->page_head_stride;
    int64_t from = b * p->stride_batch + t * p->stride_seq + h * p->stride_head;
    memcpy(p->pool + to, p->k + from, (size_t)dim * sizeof *p->pool);
    memcpy(p->pool + v_offset + to, p->v + from, (size_t)dim * sizeof *p->pool);
  }
}

void skv_problem_fill(skv_problem *p, uint64_t seed, float q_scale) {
  const skv_dtype dtype = (skv_dtype)p->spec->dtype;
  if (p->page_size) {
    /* Every slot no sequence stores a token in stays NaN. */
    const uint16_t poison = skv_dtype_from_float(dtype, NAN);
    for (size_t i = 0; i < p->pool_elems; ++i)
      p->pool[i] = poison;
  }
  skv_rng rng = {skv_seed_mix(seed, 0) | 1};
  for (size_t i = 0; i < p->q_elems; ++i)
    p->q[i] = skv_dtype_from_float(dtype, q_scale * skv_rng_normalish(&rng));
  skv_fill_job job = {p, seed};
  skv_parallel_for(skv_problem_group_count(p), skv_fill_group, &job);
  if (p->page_size) {
    skv_problem_share_prefixes(p);
    skv_parallel_for(skv_problem_group_count(p), skv_scatter_group, p);
  }
}

/* ---- device -------------------------------------------------------------------- */

skv_status skv_problem_upload(skv_problem *p) {
  const skv_gpu *gpu = p->gpu;
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyHtoD, p->d_q, p->q, p->q_elems * 2);
  if (p->page_size) {
    SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyHtoD, p->d_pool, p->pool, p->pool_elems * 2);
    SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyHtoD, p->d_table, p->table,
                            (p->table_used ? p->table_used : 1) * 4);
    SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyHtoD, p->d_indptr, p->indptr,
                            ((size_t)p->shape.batch + 1) * 4);
  } else {
    SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyHtoD, p->d_k, p->k, p->kv_elems * 2);
    SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyHtoD, p->d_v, p->v, p->kv_elems * 2);
  }
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyHtoD, p->d_seqlens, p->seqlens,
                          (size_t)p->shape.batch * sizeof(int32_t));
  return SKV_OK;
}

skv_status skv_problem_poison(skv_problem *p) {
  const skv_gpu *gpu = p->gpu;
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemsetD8, p->d_out, 0xFF, p->out_elems * 2);
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemsetD8, p->d_lse, 0xFF,
                          p->lse_elems * sizeof(float));
  if (p->workspace_size)
    SKV_GPU_RETURN_IF_ERROR(gpu, cuMemsetD8, p->d_workspace, 0xFF,
                            p->workspace_size);
  return SKV_OK;
}

skv_decode_args skv_problem_args(const skv_problem *p) {
  skv_decode_args a;
  memset(&a, 0, sizeof a);
  a.q = (const void *)(uintptr_t)p->d_q;
  a.k = (const void *)(uintptr_t)p->d_k;
  a.v = (const void *)(uintptr_t)p->d_v;
  a.seqlens = (const int32_t *)(uintptr_t)p->d_seqlens;
  a.out = (void *)(uintptr_t)p->d_out;
  a.lse = p->shape.with_lse ? (float *)(uintptr_t)p->d_lse : NULL;
  a.workspace = p->d_workspace ? (void *)(uintptr_t)p->d_workspace : NULL;
  a.workspace_size = p->workspace_size;
  a.batch = p->shape.batch;
  a.max_seqlen = p->shape.max_seqlen;
  a.num_q_heads = (int)p->spec->num_q_heads;
  a.num_kv_heads = (int)p->spec->num_kv_heads;
  a.head_dim = (int)p->spec->head_dim;
  a.k_stride_batch = a.v_stride_batch = p->stride_batch;
  a.k_stride_seq = a.v_stride_seq = p->stride_seq;
  a.k_stride_head = a.v_stride_head = p->stride_head;
  a.num_splits = p->shape.num_splits;
  a.q_len = p->shape.q_len;
  return a;
}

skv_paged_decode_args skv_problem_paged_args(const skv_problem *p) {
  skv_decode_args c = skv_problem_args(p);
  skv_paged_decode_args a;
  memset(&a, 0, sizeof a);
  a.q = c.q;
  a.k_pages = c.k;
  a.v_pages = c.v;
  a.k_stride_page = a.v_stride_page = p->page_stride;
  a.k_stride_slot = a.v_stride_slot = p->slot_stride;
  a.k_stride_head = a.v_stride_head = p->page_head_stride;
  if (p->shape.table == SKV_TABLE_BLOCK) {
    a.block_table = (const int32_t *)(uintptr_t)p->d_table;
    a.block_table_stride = p->table_stride;
  } else {
    a.page_indptr = (const int32_t *)(uintptr_t)p->d_indptr;
    a.page_indices = (const int32_t *)(uintptr_t)p->d_table;
  }
  a.num_pages = p->num_pages;
  a.seqlens = c.seqlens;
  a.out = c.out;
  a.lse = c.lse;
  a.workspace = c.workspace;
  a.workspace_size = c.workspace_size;
  a.batch = c.batch;
  a.max_seqlen = c.max_seqlen;
  a.num_q_heads = c.num_q_heads;
  a.num_kv_heads = c.num_kv_heads;
  a.head_dim = c.head_dim;
  a.num_splits = c.num_splits;
  a.q_len = c.q_len;
  return a;
}

skv_status skv_problem_decode(const skv_problem *p, const skv_attention *attention,
                              CUstream stream) {
  if (p->page_size) {
    skv_paged_decode_args args = skv_problem_paged_args(p);
    return skv_attention_decode_paged(attention, &args, stream);
  }
  skv_decode_args args = skv_problem_args(p);
  return skv_attention_decode(attention, &args, stream);
}

skv_status skv_problem_download(skv_problem *p) {
  const skv_gpu *gpu = p->gpu;
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyDtoH, p->out, p->d_out,
                          p->out_elems * 2);
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyDtoH, p->lse, p->d_lse,
                          p->lse_elems * sizeof(float));
  return SKV_OK;
}

/* ---- reference and comparison -------------------------------------------------------- */

typedef struct skv_reference_job {
  skv_reference_args args;
  const uint8_t *mask;
} skv_reference_job;

static void skv_reference_item(void *ctx, int i) {
  const skv_reference_job *job = ctx;
  if (job->mask && !job->mask[i])
    return;
  skv_reference_decode_group(&job->args, i / job->args.num_kv_heads,
                             i % job->args.num_kv_heads);
}

void skv_problem_reference(skv_problem *p, const uint8_t *group_mask) {
  skv_reference_job job;
  memset(&job, 0, sizeof job);
  skv_reference_args *a = &job.args;
  /* The spec the kernels were built with, as the package records it. */
#define SKV_FIELD_COPY(member, id, type, min, max, fallback) a->member = p->spec->member;
  SKV_SPEC_FIELDS(SKV_FIELD_COPY)
#undef SKV_FIELD_COPY
  a->batch = p->shape.batch;
  a->q_len = p->q_len;
  a->q = p->q;
  a->k = p->k;
  a->v = p->v;
  a->seqlens = p->seqlens;
  a->k_stride_batch = a->v_stride_batch = p->stride_batch;
  a->k_stride_seq = a->v_stride_seq = p->stride_seq;
  a->k_stride_head = a->v_stride_head = p->stride_head;
  a->out = p->ref_out;
  a->lse = p->ref_lse;
  job.mask = group_mask;
  skv_parallel_for(skv_problem_group_count(p), skv_reference_item, &job);
}

/* Records the first failure only: later ones are usually its echoes. */
static void skv_check_fail(skv_problem_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void skv_check_fail(skv_problem_check *c, const char *fmt, ...) {
  c->passed = 0;
  if (c->message[0])
    return;
  va_list args;
  va_start(args, fmt);
  vsnprintf(c->message, sizeof c->message, fmt, args);
  va_end(args);
}

/* The LSE tolerance. lse = log(sum exp(s_t)) is computed from the same
 * exact 16-bit inputs in f32, so its own rounding is ~1e-6; what can move
 * it is a kernel rounding q * scale * log2(e) to the input dtype before the
 * dot products (the numerics contract allows folding the scale into q;
 * ours scales the f32 scores instead), which perturbs every
 * score by up to the dtype's relative precision times |score|, and so the
 * lse by about that times the score magnitude, which |lse| bounds from
 * above for all but tiny sums. Hence bound * max(1, |ref|), with the same
 * bound as the output (1e-2 bf16, 2e-3 f16): an order of magnitude above
 * that rounding, far below what a wrong token range or a lost chunk does to
 * a short sequence. */
static double skv_lse_error(double got, double ref) {
  return fabs(got - ref) / fmax(1.0, fabs(ref));
}

void skv_problem_compare(const skv_problem *p, const uint8_t *group_mask,
                         skv_problem_check *c) {
  memset(c, 0, sizeof *c);
  c->passed = 1;
  c->worst_row_b = c->worst_row_h = c->worst_lse_b = c->worst_lse_h = -1;
  const skv_dtype dtype = (skv_dtype)p->spec->dtype;
  const double bound = skv_dtype_error_bound(dtype);
  const int heads = (int)p->spec->num_q_heads;
  const int group = heads / (int)p->spec->num_kv_heads;
  const int dim = (int)p->spec->head_dim;
  double row[SKV_REFERENCE_MAX_HEAD_DIM];
  double diff2 = 0.0, norm2 = 0.0;

  const int seq_rows = p->q_len * heads;
  for (int b = 0; b < p->shape.batch; ++b)
    for (int r = 0; r < seq_rows; ++r) {
      const int h = r % heads, i = r / heads;
      const size_t row_at = (size_t)b * seq_rows + r, at = row_at * dim;
      char token[48] = "";
      if (p->q_len > 1)
        snprintf(token, sizeof token, ", token %d of %d", i, p->q_len);
      size_t bad = 0;
      int first_bad = -1;
      for (int d = 0; d < dim; ++d) {
        row[d] = skv_dtype_to_float(dtype, p->out[at + d]);
        if (!isfinite(row[d]) && bad++ == 0)
          first_bad = d;
      }
      if (bad) {
        c->nonfinite_out += bad;
        skv_check_fail(c,
                       "out[b=%d, h=%d%s]: %zu of %d elements not finite (first "
                       "d=%d: %g): unwritten (poison) or NaN",
                       b, h, token, bad, dim, first_bad, row[first_bad]);
      }
      if (group_mask && !group_mask[b * (int)p->spec->num_kv_heads + h / group])
        continue;
      ++c->rows_checked;

      const double *ref = p->ref_out + at;
      double err = skv_relative_l2_error(row, ref, (size_t)dim);
      for (int d = 0; d < dim; ++d) {
        diff2 += (row[d] - ref[d]) * (row[d] - ref[d]);
        norm2 += ref[d] * ref[d];
      }
      if (err > c->worst_row_rel_l2 || c->worst_row_b < 0) {
        c->worst_row_rel_l2 = err;
        c->worst_row_b = b;
        c->worst_row_h = h;
      }
      if (!(err <= bound))
        skv_check_fail(c, "out[b=%d, h=%d%s] (seqlen %d): relative L2 %.3g > %.3g",
                       b, h, token, p->seqlens[b], err, bound);

      if (!p->shape.with_lse)
        continue;
      double got = p->lse[row_at];
      double want = p->ref_lse[row_at];
      if (want == -INFINITY || got == -INFINITY || !isfinite(got)) {
        if (got != want) {
          ++c->bad_lse;
          c->worst_lse_err = INFINITY;
          c->worst_lse_b = b;
          c->worst_lse_h = h;
          skv_check_fail(c, "lse[b=%d, h=%d%s] (seqlen %d) is %g, want %g", b, h, token,
                         p->seqlens[b], got, want);
        }
        continue;
      }
      double lse_err = skv_lse_error(got, want);
      if (lse_err > c->worst_lse_err || c->worst_lse_b < 0) {
        c->worst_lse_err = lse_err;
        c->worst_lse_b = b;
        c->worst_lse_h = h;
      }
      if (!(lse_err <= bound))
        skv_check_fail(c, "lse[b=%d, h=%d%s] (seqlen %d) is %.9g, want %.9g "
                       "(error %.3g > %.3g)",
                       b, h, token, p->seqlens[b], got, want, lse_err, bound);
    }

  if (c->nonfinite_out)
    c->rel_l2 = INFINITY;
  else if (norm2 == 0.0)
    c->rel_l2 = diff2 == 0.0 ? 0.0 : INFINITY;
  else
    c->rel_l2 = sqrt(diff2 / norm2);
  if (!(c->rel_l2 <= bound))
    skv_check_fail(c, "relative L2 error %.3g > %.3g", c->rel_l2, bound);
}
