/* splitkv-bench: run a package's kernels on random data on the GPU, check
 * them against the float64 reference, time them, report GB/s.
 *
 *   splitkv-bench PACKAGE SPEC --seqlen N[,N...] [--batch N[,N...]]
 *                 [--splits N] [--layout bshd|bhsd] [--iters N]
 *                 [--repeats N] [--seed N] [--launches]
 *                 [--table block|csr] [--pool nhd|hnd] [--pages permuted|consecutive]
 *                 [--q-len N]
 *
 * --q-len gives each call N query tokens per sequence (a spec with
 * max_query_len N or more: speculative decoding's verification step); the
 * KV bytes, and so the GB/s, are those of the cache, read once for all N.
 *
 * Each shape shows the split count it ran with and the one splits auto
 * would have picked: a spec's fixed count (or --splits) may leave most of
 * the device idle.
 *
 * A paged spec (kv_layout paged) runs on page pools: --table, --pool and
 * --pages say how (default a block table, NHD pools, page ids a random
 * permutation of the pool); --layout is a contiguous spec's.
 *
 * Method (docs/design.md; as the anchors measured the peers):
 *  - Copy bandwidth: cuMemcpyDtoDAsync of a 2 GiB buffer (halved until it
 *    fits), read + written bytes / time, median of 10, in the same process.
 *  - Each shape (every batch x every seqlen, all sequences that long):
 *    random inputs, one decode call checked against the reference (every
 *    (batch, kv head) pair, or a random subset including the first and last
 *    pair when the reference would take too long); then a loop of decode
 *    calls captured once into a CUDA graph and replayed, each replay timed
 *    with CUDA events, rotating among enough copies of K and V that they
 *    total >= 256 MiB (at least two), so every call reads its KV cold from
 *    HBM, not from the 50 MB L2; the time is the median over replays of
 *    replay time / calls per loop. --launches times the same loop as plain
 *    back-to-back launches instead (host launch cost included).
 *  - GB/s counts the K and V bytes only, 2 * batch * kv_heads * seqlen *
 *    head_dim * sizeof(dtype), the bytes a decode step must read, as the
 *    floor in docs/design.md and anchors/ does; q, out and lse are left out (they
 *    are under 0.1% of it past a few hundred tokens). "% copy" is that
 *    rate over the copy bandwidth, i.e. the floor time over the time.
 *
 * Exits non-zero on any failure: an error, or a result over the numerics
 * contract (relative L2 1e-2 bf16, 2e-3 f16). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_harness.h"
/* The runtime's call planning (skv_partition_choose), to show what splits
 * auto would pick for a spec whose count is fixed: no public call answers
 * that, as an attention only plans with its own spec's choice. */
#include "attention_internal.h"

#define MIB (1024.0 * 1024.0)
#define COLD_SET_BYTES (256.0 * MIB)
/* Reference work (q-head rows x tokens x head_dim) above which only a
 * subset of (batch, kv head) pairs is checked: about a second on a 16-core
 * host. */
#define REFERENCE_BUDGET (1LL << 31)
#define MAX_SHAPES 64

typedef struct bench_options {
  const char *package_path;
  const char *spec_name;
  int batches[MAX_SHAPES];
  int batch_count;
  int seqlens[MAX_SHAPES];
  int seqlen_count;
  int splits;          /* 0: the spec's choice */
  skv_kv_order order;
  int iters;           /* launches per timed loop; 0: picked per shape */
  int repeats;         /* timed loops per shape */
  uint64_t seed;
  int launches;        /* time plain launches instead of graph replays */
  skv_page_table table; /* a paged spec's pages */
  skv_pool_order pool;
  int consecutive;
  int q_len;           /* query tokens per sequence; 0: one */
} bench_options;

typedef struct bench_result {
  int batch, seqlen, splits;
  int auto_splits;     /* what splits auto would have picked */
  double kv_bytes;
  double us;           /* median per launch */
  double rel_l2;
  int passed;
} bench_result;

static void die_usage(const char *why) {
  fprintf(stderr,
          "splitkv-bench: %s\n"
          "usage: splitkv-bench PACKAGE SPEC --seqlen N[,N...] "
          "[--batch N[,N...]]\n"
          "                     [--splits N] [--layout bshd|bhsd] "
          "[--iters N] [--repeats N] [--seed N]\n"
          "                     [--launches] [--table block|csr] [--pool nhd|hnd]\n"
          "                     [--pages permuted|consecutive] [--q-len N]\n"
          "Options take their value as --opt=VALUE or --opt VALUE; each shape shows\n"
          "the split count used and the one splits auto would pick.\n",
          why);
  exit(2);
}

static int parse_positive(const char *text, const char *what) {
  char *end;
  long value = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || value < 1 || value > (1L << 30)) {
    char why[128];
    snprintf(why, sizeof why, "%s: '%s' is not a positive integer", what, text);
    die_usage(why);
  }
  return (int)value;
}

/* "1,8,64" -> values; returns the count. */
static int parse_list(const char *text, int *values, const char *what) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", text);
  int count = 0;
  for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
    if (count == MAX_SHAPES)
      die_usage("too many values in a list");
    values[count++] = parse_positive(item, what);
  }
  if (!count)
    die_usage("empty list");
  return count;
}

/* Options follow getopt_long: `--batch=1,8` or `--batch 1,8`, anywhere
 * among PACKAGE and SPEC. */
static void parse_options(int argc, char **argv, bench_options *o) {
  enum { BATCH = 256, SEQLEN, SPLITS, ITERS, REPEATS, SEED, LAUNCHES, TABLE, POOL, PAGES,
         LAYOUT, Q_LEN };
  static const struct option long_options[] = {
      {"batch", required_argument, NULL, BATCH},
      {"seqlen", required_argument, NULL, SEQLEN},
      {"splits", required_argument, NULL, SPLITS},
      {"iters", required_argument, NULL, ITERS},
      {"repeats", required_argument, NULL, REPEATS},
      {"seed", required_argument, NULL, SEED},
      {"launches", no_argument, NULL, LAUNCHES},
      {"table", required_argument, NULL, TABLE},
      {"pool", required_argument, NULL, POOL},
      {"pages", required_argument, NULL, PAGES},
      {"layout", required_argument, NULL, LAYOUT},
      {"q-len", required_argument, NULL, Q_LEN},
      {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->batches[0] = 1;
  o->batch_count = 1;
  o->order = SKV_ORDER_BSHD;
  o->repeats = 20;
  o->seed = 0x5EED5EED5EEDull;
  opterr = 0; /* our messages, not getopt's */
  int c;
  char why[160];
  while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
    const char *value = optarg;
    switch (c) {
    case BATCH:
      o->batch_count = parse_list(value, o->batches, "--batch");
      break;
    case SEQLEN:
      o->seqlen_count = parse_list(value, o->seqlens, "--seqlen");
      break;
    case SPLITS:
      o->splits = parse_positive(value, "--splits");
      break;
    case ITERS:
      o->iters = parse_positive(value, "--iters");
      break;
    case REPEATS:
      o->repeats = parse_positive(value, "--repeats");
      break;
    case SEED:
      o->seed = strtoull(value, NULL, 0);
      break;
    case LAUNCHES:
      o->launches = 1;
      break;
    case TABLE:
      if (strcmp(value, "block") == 0)
        o->table = SKV_TABLE_BLOCK;
      else if (strcmp(value, "csr") == 0)
        o->table = SKV_TABLE_CSR;
      else
        die_usage("--table is block or csr");
      break;
    case POOL:
      if (strcmp(value, "nhd") == 0)
        o->pool = SKV_POOL_NHD;
      else if (strcmp(value, "hnd") == 0)
        o->pool = SKV_POOL_HND;
      else
        die_usage("--pool is nhd or hnd");
      break;
    case PAGES:
      if (strcmp(value, "permuted") == 0)
        o->consecutive = 0;
      else if (strcmp(value, "consecutive") == 0)
        o->consecutive = 1;
      else
        die_usage("--pages is permuted or consecutive");
      break;
    case LAYOUT:
      if (strcmp(value, "bshd") == 0)
        o->order = SKV_ORDER_BSHD;
      else if (strcmp(value, "bhsd") == 0)
        o->order = SKV_ORDER_BHSD;
      else
        die_usage("--layout is bshd or bhsd");
      break;
    case Q_LEN:
      o->q_len = parse_positive(value, "--q-len");
      break;
    case ':':
      snprintf(why, sizeof why, "%s needs a value", argv[optind - 1]);
      die_usage(why);
      break;
    default:
      snprintf(why, sizeof why, "unknown option '%s'", argv[optind - 1]);
      die_usage(why);
    }
  }
  if (argc - optind > 2)
    die_usage("too many arguments");
  if (argc - optind != 2)
    die_usage("PACKAGE and SPEC are required");
  o->package_path = argv[optind];
  o->spec_name = argv[optind + 1];
  if (!o->seqlen_count)
    die_usage("--seqlen is required");
}

static int fail_status(const char *what, skv_status status) {
  fprintf(stderr, "splitkv-bench: FAIL: %s: %s: %s\n", what,
          skv_status_code_name(skv_status_code_of(status)),
          skv_status_message(status));
  skv_status_free(status);
  return 1;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values, int n) {
  qsort(values, (size_t)n, sizeof *values, compare_doubles);
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/* ---- copy bandwidth ------------------------------------------------------------ */

static skv_status time_copy(const skv_gpu *gpu, CUstream stream,
                            CUevent start, CUevent stop, CUdeviceptr dst,
                            CUdeviceptr src, size_t bytes, double *out_gbs) {
  double times[10];
  const int repeats = (int)(sizeof times / sizeof times[0]);
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyDtoDAsync, dst, src, bytes, stream);
  for (int r = 0; r < repeats; ++r) {
    SKV_GPU_RETURN_IF_ERROR(gpu, cuEventRecord, start, stream);
    SKV_GPU_RETURN_IF_ERROR(gpu, cuMemcpyDtoDAsync, dst, src, bytes, stream);
    SKV_GPU_RETURN_IF_ERROR(gpu, cuEventRecord, stop, stream);
    SKV_GPU_RETURN_IF_ERROR(gpu, cuEventSynchronize, stop);
    float ms = 0;
    SKV_GPU_RETURN_IF_ERROR(gpu, cuEventElapsedTime, &ms, start, stop);
    times[r] = ms;
  }
  *out_gbs = 2.0 * (double)bytes / (median(times, repeats) * 1e-3) / 1e9;
  return SKV_OK;
}

/* Device-to-device copy bandwidth, bytes read + written per second. */
static skv_status measure_copy_bandwidth(const skv_gpu *gpu, CUstream stream,
                                         CUevent start, CUevent stop,
                                         double *out_gbs, size_t *out_bytes) {
  for (size_t bytes = (size_t)2 << 30; bytes >= ((size_t)256 << 20);
       bytes /= 2) {
    CUdeviceptr src = 0, dst = 0;
    if (gpu->cu->cuMemAlloc(&src, bytes) != CUDA_SUCCESS)
      continue;
    if (gpu->cu->cuMemAlloc(&dst, bytes) != CUDA_SUCCESS) {
      gpu->cu->cuMemFree(src);
      continue;
    }
    skv_status status = skv_gpu_status(
        gpu, gpu->cu->cuMemsetD8(src, 0x3C, bytes), "cuMemsetD8", __FILE__,
        __LINE__);
    if (!status)
      status = time_copy(gpu, stream, start, stop, dst, src, bytes, out_gbs);
    gpu->cu->cuMemFree(src);
    gpu->cu->cuMemFree(dst);
    *out_bytes = bytes;
    return status;
  }
  return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                   "no room for two 256 MiB buffers to measure the copy "
                   "bandwidth");
}

/* The split count splits auto would give a call of these sizes (the
 * partition's count: chunks per (batch, kv head), or the balanced
 * kernel's CTAs per kv head), planned as the runtime plans it for this
 * attention's launches with the spec's count set to auto; 0 if it cannot
 * say. Shown beside the count used: a fixed one (or --splits) can leave
 * most of the device idle (README, "Specs"). */
static int auto_splits(const skv_attention *attention, int batch, int max_seqlen) {
  skv_pkg_spec spec = *attention->spec;
  spec.splits = 0;
  int fill = 0, splits = 0, balanced = 0;
  skv_status status = skv_partition_choose(&spec, &attention->launches, batch,
                                           (int)spec.max_query_len, max_seqlen, 0, &fill,
                                           &splits, &balanced);
  if (status) {
    skv_status_free(status);
    return 0;
  }
  return splits;
}

/* ---- one shape ---------------------------------------------------------------------- */

/* Which (batch, kv head) pairs to check: all when the reference is cheap
 * enough, else the first, the last and random others up to the budget. */
static uint8_t *pick_groups(const skv_problem *p, uint64_t seed,
                            int *out_checked) {
  const int groups = p->shape.batch * (int)p->spec->num_kv_heads;
  uint8_t *mask = calloc((size_t)groups, 1);
  if (!mask)
    return NULL;
  const long long per_group = (long long)p->spec->num_q_heads /
                              p->spec->num_kv_heads * p->shape.max_seqlen *
                              p->spec->head_dim;
  long long want = per_group > 0 ? REFERENCE_BUDGET / per_group : groups;
  if (want < 2)
    want = 2;
  if (want >= groups) {
    memset(mask, 1, (size_t)groups);
    *out_checked = groups;
    return mask;
  }
  mask[0] = mask[groups - 1] = 1;
  int checked = groups > 1 ? 2 : 1;
  for (uint64_t i = 0; checked < want; ++i) {
    int g = (int)(skv_seed_mix(seed, i) % (uint64_t)groups);
    if (!mask[g]) {
      mask[g] = 1;
      ++checked;
    }
  }
  *out_checked = checked;
  return mask;
}

/* Decodes once and compares with the reference. */
static skv_status check_shape(const skv_gpu *gpu,
                              const skv_attention *attention, CUstream stream,
                              skv_problem *p, uint64_t seed,
                              bench_result *result) {
  SKV_RETURN_IF_ERROR(skv_problem_decode(p, attention, stream), "checking decode");
  SKV_GPU_RETURN_IF_ERROR(gpu, cuStreamSynchronize, stream);
  SKV_RETURN_IF_ERROR_PLAIN(skv_problem_download(p));
  int checked = 0;
  uint8_t *mask = pick_groups(p, seed, &checked);
  if (!mask)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "group mask");
  const int groups = p->shape.batch * (int)p->spec->num_kv_heads;
  double start = skv_host_ms();
  skv_problem_reference(p, checked == groups ? NULL : mask);
  skv_problem_check check;
  skv_problem_compare(p, checked == groups ? NULL : mask, &check);
  free(mask);
  printf("  check: %d of %d (batch, kv head) pairs against the reference "
         "(%.1f s): rel_l2 %.2e, worst row %.2e, worst lse %.2e: %s\n",
         checked, groups, (skv_host_ms() - start) * 1e-3, check.rel_l2,
         check.worst_row_rel_l2, check.worst_lse_err,
         check.passed ? "OK" : "FAIL");
  if (!check.passed)
    printf("  FAIL: %s (contract %.0e)\n", check.message,
           skv_dtype_error_bound((skv_dtype)p->spec->dtype));
  result->rel_l2 = check.rel_l2;
  result->passed = check.passed;
  return SKV_OK;
}

/* Launches per timed loop: at least 20 and a whole number of passes over
 * the KV sets, so each set is read equally often. */
static int pick_iters(int requested, int sets) {
  if (requested)
    return requested;
  int iters = sets;
  while (iters < 20)
    iters += sets;
  return iters;
}

/* One timed loop: iters decode calls, call i reading KV set i % sets (K at
 * k[], V at v[]; a paged spec's pools, with the same page table). */
typedef struct loop_ctx {
  const skv_attention *attention;
  const skv_problem *p;
  const CUdeviceptr *k, *v;
  int sets, iters;
} loop_ctx;

/* Enqueues the loop ctx (a loop_ctx) on stream. */
static skv_status enqueue_loop(void *ctx, CUstream stream) {
  const loop_ctx *loop = ctx;
  const skv_attention *attention = loop->attention;
  const skv_problem *p = loop->p;
  const CUdeviceptr *k = loop->k, *v = loop->v;
  const int sets = loop->sets, iters = loop->iters;
  skv_decode_args args = skv_problem_args(p);
  skv_paged_decode_args paged = skv_problem_paged_args(p);
  for (int i = 0; i < iters; ++i) {
    if (p->page_size) {
      paged.k_pages = (const void *)(uintptr_t)k[i % sets];
      paged.v_pages = (const void *)(uintptr_t)v[i % sets];
      SKV_RETURN_IF_ERROR_PLAIN(skv_attention_decode_paged(attention, &paged, stream));
    } else {
      args.k = (const void *)(uintptr_t)k[i % sets];
      args.v = (const void *)(uintptr_t)v[i % sets];
      SKV_RETURN_IF_ERROR_PLAIN(skv_attention_decode(attention, &args, stream));
    }
  }
  return SKV_OK;
}

/* Times o->repeats loops into times[] (microseconds per call), after one
 * untimed loop (clocks, TLB, graph upload). */
static skv_status time_loops(const skv_gpu *gpu,
                             const skv_attention *attention, CUstream stream,
                             CUevent start, CUevent stop, const skv_problem *p,
                             const CUdeviceptr *k, const CUdeviceptr *v,
                             int sets, int iters, const bench_options *o,
                             double *times) {
  CUgraph graph = NULL;
  CUgraphExec exec = NULL;
  skv_status status = SKV_OK;
  loop_ctx loop = {attention, p, k, v, sets, iters};
  if (!o->launches)
    status = skv_gpu_capture(gpu, stream, enqueue_loop, &loop, &graph, &exec);
  for (int r = -1; r < o->repeats && !status; ++r) {
    status = skv_gpu_status(gpu, gpu->cu->cuEventRecord(start, stream),
                            "cuEventRecord", __FILE__, __LINE__);
    if (!status)
      status = exec ? skv_gpu_status(gpu, gpu->cu->cuGraphLaunch(exec, stream),
                                     "cuGraphLaunch", __FILE__, __LINE__)
                    : enqueue_loop(&loop, stream);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuEventRecord(stop, stream),
                              "cuEventRecord", __FILE__, __LINE__);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuEventSynchronize(stop),
                              "cuEventSynchronize", __FILE__, __LINE__);
    float ms = 0;
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuEventElapsedTime(&ms, start, stop),
                              "cuEventElapsedTime", __FILE__, __LINE__);
    if (!status && r >= 0)
      times[r] = (double)ms * 1e3 / iters;
  }
  if (exec)
    gpu->cu->cuGraphExecDestroy(exec);
  if (graph)
    gpu->cu->cuGraphDestroy(graph);
  return status;
}

static skv_status time_shape(const skv_gpu *gpu, const skv_attention *attention,
                             CUstream stream, CUevent start, CUevent stop,
                             const skv_problem *p, const bench_options *o,
                             bench_result *result) {
  /* One copy of the cache: K and V (contiguous: two allocations of
   * kv_bytes; paged: one pool holding both, copied whole). */
  const size_t kv_bytes = (p->page_size ? p->pool_elems : p->kv_elems) * 2;
  size_t free_bytes = 0, total_bytes = 0;
  SKV_GPU_RETURN_IF_ERROR(gpu, cuMemGetInfo, &free_bytes, &total_bytes);
  const size_t set_bytes = p->page_size ? kv_bytes : 2 * kv_bytes;
  int sets = (int)ceil(COLD_SET_BYTES / (double)set_bytes);
  if (sets < 2)
    sets = 2;
  /* Leave 1 GiB of headroom; with less room, fewer sets (one set of
   * >= 256 MiB is still mostly cold: L2 is 50 MB). */
  size_t room = free_bytes > ((size_t)1 << 30) ? free_bytes - ((size_t)1 << 30)
                                               : 0;
  if ((size_t)(sets - 1) * set_bytes > room)
    sets = 1 + (int)(room / set_bytes);
  const int iters = pick_iters(o->iters, sets);

  CUdeviceptr *k = calloc((size_t)sets, sizeof *k);
  CUdeviceptr *v = calloc((size_t)sets, sizeof *v);
  double *times = calloc((size_t)o->repeats, sizeof *times);
  skv_status status = SKV_OK;
  if (!k || !v || !times) {
    status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "timing buffers");
    goto done;
  }
  k[0] = p->d_k;
  v[0] = p->d_v;
  for (int s = 1; s < sets && !status; ++s) {
    if (p->page_size) {
      /* k[s] is the copy's allocation; v[s] points into it. */
      status = skv_gpu_status(gpu, gpu->cu->cuMemAlloc(&k[s], kv_bytes), "cuMemAlloc",
                              __FILE__, __LINE__);
      if (!status)
        status = skv_gpu_status(gpu, gpu->cu->cuMemcpyDtoD(k[s], p->d_pool, kv_bytes),
                                "cuMemcpyDtoD", __FILE__, __LINE__);
      v[s] = k[s] + (p->d_v - p->d_k);
      continue;
    }
    status = skv_gpu_status(gpu, gpu->cu->cuMemAlloc(&k[s], kv_bytes),
                            "cuMemAlloc", __FILE__, __LINE__);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuMemAlloc(&v[s], kv_bytes),
                              "cuMemAlloc", __FILE__, __LINE__);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuMemcpyDtoD(k[s], p->d_k, kv_bytes),
                              "cuMemcpyDtoD", __FILE__, __LINE__);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuMemcpyDtoD(v[s], p->d_v, kv_bytes),
                              "cuMemcpyDtoD", __FILE__, __LINE__);
  }
  if (status)
    goto done;
  printf("  timing: %d KV set(s) of %.1f MB (%.0f MB in all), loops of %d "
         "calls as %s, median of %d\n",
         sets, (double)set_bytes / 1e6, (double)set_bytes * sets / 1e6,
         iters, o->launches ? "plain launches" : "CUDA graph replays",
         o->repeats);

  status = time_loops(gpu, attention, stream, start, stop, p, k, v, sets,
                      iters, o, times);
  if (!status)
    result->us = median(times, o->repeats);

done:
  for (int s = 1; s < sets && k && v; ++s) {
    if (k[s])
      gpu->cu->cuMemFree(k[s]);
    if (v[s] && !p->page_size)
      gpu->cu->cuMemFree(v[s]);
  }
  free(k);
  free(v);
  free(times);
  return status;
}

static skv_status run_shape(const skv_gpu *gpu, const skv_attention *attention,
                            CUstream stream, CUevent start, CUevent stop,
                            const bench_options *o, int batch, int seqlen,
                            uint64_t seed, bench_result *result) {
  int32_t *seqlens = malloc((size_t)batch * sizeof *seqlens);
  if (!seqlens)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "seqlens");
  for (int b = 0; b < batch; ++b)
    seqlens[b] = seqlen;
  skv_problem_shape shape;
  memset(&shape, 0, sizeof shape);
  shape.batch = batch;
  shape.seqlens = seqlens;
  shape.max_seqlen = shape.seq_capacity = seqlen;
  shape.order = o->order;
  shape.num_splits = o->splits;
  shape.with_lse = 1;
  shape.table = o->table;
  shape.pool = o->pool;
  shape.consecutive = o->consecutive;
  shape.q_len = o->q_len;
  skv_problem *p = NULL;
  skv_status status = skv_problem_create(gpu, attention, &shape, &p);
  free(seqlens);
  SKV_RETURN_IF_ERROR_PLAIN(status);

  result->batch = batch;
  result->seqlen = seqlen;
  result->splits = p->num_splits_used;
  result->kv_bytes = 2.0 * (double)p->kv_elems * 2.0;
  char layout[96];
  if (p->page_size)
    snprintf(layout, sizeof layout, "pages of %d, %s, %s, %s", p->page_size,
             skv_page_table_name(o->table), skv_pool_order_name(o->pool),
             o->consecutive ? "consecutive" : "permuted");
  else
    snprintf(layout, sizeof layout, "%s", skv_kv_order_name(o->order));
  result->auto_splits = auto_splits(attention, batch, seqlen);
  printf("shape batch %d seqlen %d (%s, %d splits, auto would pick %d): KV %.1f MB\n", batch,
         seqlen, layout, p->num_splits_used, result->auto_splits, result->kv_bytes / 1e6);
  fflush(stdout);
  skv_problem_fill(p, seed, 1.0f);
  status = skv_problem_upload(p);
  if (!status)
    status = skv_problem_poison(p);
  if (!status)
    status = check_shape(gpu, attention, stream, p, seed, result);
  if (!status)
    status = time_shape(gpu, attention, stream, start, stop, p, o, result);
  skv_problem_destroy(p);
  return status;
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  bench_options o;
  parse_options(argc, argv, &o);

  skv_gpu gpu;
  skv_status status = skv_gpu_open(&gpu);
  if (status)
    return fail_status("opening the GPU", status);
  int exit_code = 1;
  skv_package *package = NULL;
  skv_attention *attention = NULL;
  CUstream stream = NULL;
  CUevent start = NULL, stop = NULL;
  bench_result results[MAX_SHAPES * MAX_SHAPES];
  int result_count = 0;

  status = skv_package_open_file(o.package_path, &package);
  if (!status)
    status = skv_attention_create(package, o.spec_name, &attention);
  if (!status)
    status = skv_gpu_status(&gpu, gpu.cu->cuStreamCreate(&stream, 0),
                            "cuStreamCreate", __FILE__, __LINE__);
  if (!status)
    status = skv_gpu_status(&gpu, gpu.cu->cuEventCreate(&start, 0),
                            "cuEventCreate", __FILE__, __LINE__);
  if (!status)
    status = skv_gpu_status(&gpu, gpu.cu->cuEventCreate(&stop, 0),
                            "cuEventCreate", __FILE__, __LINE__);
  if (status) {
    fail_status("setting up", status);
    goto done;
  }
  const skv_pkg_spec *spec = skv_attention_record(attention);
  const char *dtype = skv_dtype_name((skv_dtype)spec->dtype);
  printf("device %s (sm_%d%d, %d SMs, %.1f GB), driver %d\n", gpu.name,
         gpu.cc_major, gpu.cc_minor, gpu.sm_count,
         (double)gpu.total_memory / 1e9, gpu.driver_version);
  printf("spec %s: %s, head_dim %u, q heads %u, kv heads %u, splits %s%s\n",
         spec->name, dtype, spec->head_dim, spec->num_q_heads,
         spec->num_kv_heads, o.splits ? "--splits " : "",
         o.splits ? "" : (spec->splits ? "fixed by the spec" : "auto"));
  if (o.splits)
    printf("  (overridden: %d)\n", o.splits);

  double copy_gbs = 0;
  size_t copy_bytes = 0;
  status = measure_copy_bandwidth(&gpu, stream, start, stop, &copy_gbs,
                                  &copy_bytes);
  if (status) {
    fail_status("measuring the copy bandwidth", status);
    goto done;
  }
  printf("copy bandwidth: %.0f GB/s (cuMemcpyDtoD of %.0f MiB, read + "
         "written bytes)\n",
         copy_gbs, (double)copy_bytes / MIB);
  printf("GB/s below counts K and V bytes only (2 x batch x kv_heads x "
         "seqlen x head_dim x %d B); floor = those bytes / copy bandwidth\n",
         2);

  int failures = 0;
  for (int bi = 0; bi < o.batch_count; ++bi)
    for (int si = 0; si < o.seqlen_count; ++si) {
      bench_result *r = &results[result_count];
      memset(r, 0, sizeof *r);
      status = run_shape(&gpu, attention, stream, start, stop, &o,
                         o.batches[bi], o.seqlens[si],
                         skv_seed_mix(o.seed, (uint64_t)result_count), r);
      if (status) {
        fail_status("shape", status);
        /* A CUDA error may leave the context unusable: stop there. */
        ++failures;
        goto table;
      }
      double gbs = r->kv_bytes / (r->us * 1e-6) / 1e9;
      printf("  %.2f us  %.0f GB/s  %.1f%% of copy  (floor %.2f us)  splits "
             "%d (auto %d)  rel_l2 %.2e%s\n",
             r->us, gbs, 100.0 * gbs / copy_gbs,
             r->kv_bytes / (copy_gbs * 1e9) * 1e6, r->splits, r->auto_splits, r->rel_l2,
             r->passed ? "" : "  FAIL");
      failures += !r->passed;
      ++result_count;
    }

table:
  printf("\n| spec | dtype | batch | seqlen | splits | auto | KV MB | floor us | us "
         "| GB/s | %% of copy | rel err |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  char label[160];
  snprintf(label, sizeof label, "%s", spec->name);
  if (o.q_len > 1)
    snprintf(label, sizeof label, "%s (q_len %d)", spec->name, o.q_len);
  for (int i = 0; i < result_count; ++i) {
    const bench_result *r = &results[i];
    double gbs = r->kv_bytes / (r->us * 1e-6) / 1e9;
    printf("| %s | %s | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.0f | %.0f%% | "
           "%.1e%s |\n",
           label, dtype, r->batch, r->seqlen, r->splits, r->auto_splits,
           r->kv_bytes / 1e6,
           r->kv_bytes / (copy_gbs * 1e9) * 1e6, r->us, gbs,
           100.0 * gbs / copy_gbs, r->rel_l2, r->passed ? "" : " FAIL");
  }
  printf("%s, copy %.0f GB/s, %d shape(s), %d failure(s)\n", gpu.name, copy_gbs,
         result_count, failures);
  exit_code = failures ? 1 : 0;

done:
  if (start)
    gpu.cu->cuEventDestroy(start);
  if (stop)
    gpu.cu->cuEventDestroy(stop);
  if (stream)
    gpu.cu->cuStreamDestroy(stream);
  skv_attention_destroy(attention);
  skv_package_destroy(package);
  skv_gpu_close(&gpu);
  return exit_code;
}
