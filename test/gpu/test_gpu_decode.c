/* GPU test: one spec's kernels from a package against the float64 reference
 * over a grid of shapes.
 *
 *   test_gpu_decode PACKAGE SPEC|all [--seed N] [--case I | --every N]
 *                   [--expect-image cubin|ptx]
 *
 * "all" runs every spec the package holds (a spec file may hold several).
 * Each spec's line says which image the runtime loaded and how long the
 * load took; --expect-image fails a spec loaded from another kind (a
 * package with a cubin for this GPU must not be JIT-compiled, and one with
 * only older PTX must be).
 *
 * Every case gets fresh random inputs (seed printed, --seed replays a run,
 * --case runs one case, --every N every Nth from the first: a sample of
 * all kinds of case, for runs under compute-sanitizer, plus the first case
 * of each launch, narrow or wide, that the sample would miss), NaN in every
 * stored token past a sequence's length, outputs poisoned with 0xFF bytes
 * before each call, the workspace poisoned alike (it needs no
 * initialisation), two calls per case, and every
 * output element compared (gpu_harness.h, skv_problem_compare). The grid
 * holds seqlen {0, 1, 2, 17, 255, 256, 1000, 4097,
 * 32768}, batch {1, 3, 8}, splits {1, 2, 7, auto}, and 256 (the combine
 * kernel's chunk loop taking several steps), both KV orders with a
 * sequence capacity above the longest sequence, fewer tokens than splits,
 * empty sequences inside a batch, ragged batches, and skewed ones (a long
 * sequence among short and empty ones, batches of 5 to 64). Every
 * auto-split case then runs again under the balanced partition
 * (SKV_PARTITION=balanced), with the graph replays. On sm_90 the batch-8
 * case at 32768 tokens reads at least 268 MB of K and V with every spec,
 * past the 100.6 MB (H100) or 147.5 MB (H200) from which the runtime has
 * the combine kernel trigger the next launch late (kernel_abi.h); the short
 * cases trigger early. It is pruned where cost
 * grows (batch 8 at 32768 tokens only once, [b, s, h, d], auto splits) so
 * one spec takes 3 to 25 s on an H100 or H200 host (most of it filling,
 * uploading and checking the largest cases; 32 kv heads cost the most). Also checks that a too-small workspace and other bad
 * arguments are rejected with INVALID_ARGUMENT, launching nothing.
 *
 * Exit: 0 all passed, 1 a failure, 2 usage, 77 skipped (no driver or GPU,
 * or no image for this GPU in the package), printed as "SKIPPED: reason";
 * with SKV_REQUIRE_GPU=1 in the environment a skip is a failure instead
 * (scripts/device-check.sh sets it: a GPU run must never pass by
 * skipping). */
#define _POSIX_C_SOURCE 200809L /* setenv */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu_harness.h"
#include "splitkv/kernel_abi.h"

#define SKIP_RETURN_CODE 77

/* A test that cannot run here: SKIPPED, or a failure under
 * SKV_REQUIRE_GPU=1. */
static int skip(const char *why) {
  const char *require = getenv("SKV_REQUIRE_GPU");
  if (require && strcmp(require, "1") == 0) {
    printf("FAIL: SKV_REQUIRE_GPU=1, and this cannot run: %s\n", why);
    return 1;
  }
  printf("SKIPPED: %s\n", why);
  return SKIP_RETURN_CODE;
}

#define MAX_BATCH 64
typedef struct gpu_case {
  const char *what;
  int batch;
  int32_t seqlens[MAX_BATCH];
  int max_seqlen; /* -1: the longest of seqlens */
  int splits;     /* 0: auto (the spec's choice) */
  skv_kv_order order;
  float q_scale;  /* > 1: peaky softmax */
  int with_lse;
} gpu_case;

#define MAX_CASES 256
static gpu_case cases[MAX_CASES];
static int case_count;
/* The launches of the spec under test: each of its split kernels (narrow,
 * wide, ...) by block size, and how many cases ran it. */
static struct {
  int count;
  int threads[SKV_MAX_KERNELS];
  int cases[SKV_MAX_KERNELS];
} launches;

/* Which of the spec's launches a call of `threads` per CTA is; -1 none. */
static int launch_of(int threads) {
  for (int i = 0; i < launches.count; ++i)
    if (launches.threads[i] == threads)
      return i;
  return -1;
}

static const int kSplits[] = {1, 2, 7, 0};
#define SPLIT_CHOICES 4

static void add_case(const char *what, int batch, const int32_t *seqlens,
                     int max_seqlen, int splits, skv_kv_order order,
                     float q_scale, int with_lse) {
  if (case_count == MAX_CASES) {
    fprintf(stderr, "test_gpu_decode: more than %d cases\n", MAX_CASES);
    exit(1);
  }
  gpu_case *c = &cases[case_count++];
  c->what = what;
  c->batch = batch;
  memcpy(c->seqlens, seqlens, (size_t)batch * sizeof *seqlens);
  c->max_seqlen = max_seqlen;
  c->splits = splits;
  c->order = order;
  c->q_scale = q_scale;
  c->with_lse = with_lse;
}

/* Every sequence of the batch the same length. */
static void add_uniform(const char *what, int batch, int32_t len, int splits,
                        skv_kv_order order) {
  int32_t lens[MAX_BATCH];
  for (int b = 0; b < batch; ++b)
    lens[b] = len;
  add_case(what, batch, lens, -1, splits, order, 1.0f, 1);
}

/* Each ragged shape with every split choice, in both orders or alternating. */
static void add_ragged(const char *what, int batch, const int32_t *lens,
                       int max_seqlen, int both_orders) {
  for (int s = 0; s < SPLIT_CHOICES; ++s) {
    if (both_orders) {
      add_case(what, batch, lens, max_seqlen, kSplits[s], SKV_ORDER_BSHD, 1, 1);
      add_case(what, batch, lens, max_seqlen, kSplits[s], SKV_ORDER_BHSD, 1, 1);
    } else {
      add_case(what, batch, lens, max_seqlen, kSplits[s], (skv_kv_order)(s & 1),
               1, 1);
    }
  }
}

static void build_grid(void) {
  static const int32_t kShort[] = {1, 2, 17, 255, 256, 1000, 4097};
  const int short_count = (int)(sizeof kShort / sizeof kShort[0]);

  /* Batch 1 and 3, every length up to 4097 x every split x both orders. */
  for (int i = 0; i < short_count; ++i)
    for (int batch = 1; batch <= 3; batch += 2)
      for (int s = 0; s < SPLIT_CHOICES; ++s) {
        add_uniform("uniform", batch, kShort[i], kSplits[s], SKV_ORDER_BSHD);
        add_uniform("uniform", batch, kShort[i], kSplits[s], SKV_ORDER_BHSD);
      }
  /* Batch 8: the lengths where chunking changes, order alternating. */
  static const int32_t kBatch8[] = {1, 17, 256, 1000, 4097};
  for (int i = 0; i < 5; ++i)
    for (int s = 0; s < SPLIT_CHOICES; ++s)
      add_uniform("uniform", 8, kBatch8[i], kSplits[s], (skv_kv_order)(s & 1));

  /* 32768 tokens: batch 1 fully, 3 and 8 pruned. */
  for (int s = 0; s < SPLIT_CHOICES; ++s) {
    add_uniform("long", 1, 32768, kSplits[s], SKV_ORDER_BSHD);
    add_uniform("long", 1, 32768, kSplits[s], SKV_ORDER_BHSD);
  }
  add_uniform("long", 3, 32768, 0, SKV_ORDER_BHSD);
  add_uniform("long", 3, 32768, 7, SKV_ORDER_BHSD);
  add_uniform("long", 8, 32768, 0, SKV_ORDER_BSHD);

  /* The most chunks an override allows: the combine kernel's lanes go
   * round their chunk loop more than once (32 lanes x 6 chunks a step). */
  add_uniform("max-splits", 1, 32768, SKV_MAX_SPLITS, SKV_ORDER_BHSD);
  add_uniform("max-splits", 3, 4097, SKV_MAX_SPLITS, SKV_ORDER_BSHD);

  /* Fewer tokens than splits, with chunks of one token and empty ones. */
  add_case("len<splits", 3, (int32_t[]){5, 6, 3}, -1, 7, SKV_ORDER_BSHD, 1, 1);
  add_case("len<splits", 3, (int32_t[]){5, 6, 3}, -1, 7, SKV_ORDER_BHSD, 1, 1);

  /* Empty sequences inside a batch, and batches of nothing but. */
  add_ragged("zero-len", 3, (int32_t[]){0, 17, 1000}, -1, 1);
  add_ragged("zero-len", 8, (int32_t[]){0, 1, 2, 0, 255, 4097, 17, 0}, -1, 0);
  for (int s = 0; s < SPLIT_CHOICES; ++s) {
    add_case("all-empty", 3, (int32_t[]){0, 0, 0}, -1, kSplits[s],
             SKV_ORDER_BSHD, 1, 1);
    add_case("all-empty", 3, (int32_t[]){0, 0, 0}, 16, kSplits[s],
             SKV_ORDER_BHSD, 1, 1);
  }

  /* Ragged: each sequence its own length. */
  static const int32_t kRagged8[] = {4097, 1, 17, 1000, 2, 255, 256, 3001};
  add_ragged("ragged", 8, kRagged8, -1, 1);
  add_ragged("ragged", 3, (int32_t[]){1, 4097, 300}, -1, 0);

  /* max_seqlen is an upper bound: well above every length. */
  add_case("loose-max", 3, (int32_t[]){17, 5, 9}, 1000, 0, SKV_ORDER_BSHD, 1, 1);
  add_case("loose-max", 3, (int32_t[]){17, 5, 9}, 1000, 7, SKV_ORDER_BHSD, 1, 1);
  add_case("loose-max", 3, (int32_t[]){17, 5, 9}, 1000, 1, SKV_ORDER_BSHD, 1, 1);

  /* Peaky softmax (q x 8: scores of std 8): chunk maxima far apart. */
  for (int s = 0; s < SPLIT_CHOICES; ++s)
    add_case("peaky", 1, (int32_t[]){4097}, -1, kSplits[s],
             (skv_kv_order)(s & 1), 8.0f, 1);
  add_case("peaky", 8, kRagged8, -1, 0, SKV_ORDER_BHSD, 8.0f, 1);

  /* Skewed: a long sequence among short and empty ones, auto splits (the
   * balanced partition, kernel_abi.h, where the sizes call for it; the
   * balanced pass runs them all balanced). 33 and 64 sequences take the
   * kernel's length sums over more than one warp's round. */
  add_case("skewed", 5, (int32_t[]){32768, 1, 17, 0, 1000}, -1, 0, SKV_ORDER_BHSD, 1, 1);
  add_case("skewed", 8, (int32_t[]){0, 9000, 1024, 1024, 1024, 1024, 1024, 1023}, -1, 0,
           SKV_ORDER_BSHD, 1, 1);
  {
    int32_t lens[MAX_BATCH];
    for (int b = 0; b < MAX_BATCH; ++b)
      lens[b] = (b * 37) % 301;
    lens[5] = 20000;
    add_case("skewed", 33, lens, -1, 0, SKV_ORDER_BSHD, 1, 1);
    lens[0] = lens[63] = 8192;
    add_case("skewed", 64, lens, 24000, 0, SKV_ORDER_BHSD, 1, 0);
  }

  /* lse NULL: the runtime points the kernels' lse at workspace. */
  for (int s = 0; s < SPLIT_CHOICES; ++s)
    add_case("no-lse", 3, (int32_t[]){1000, 1, 255}, -1, kSplits[s],
             (skv_kv_order)(s & 1), 1.0f, 0);
}

/* ---- running ------------------------------------------------------------------ */

static void print_status(const char *what, skv_status status) {
  printf("FAIL: %s: %s: %s\n", what,
         skv_status_code_name(skv_status_code_of(status)),
         skv_status_message(status));
  skv_status_free(status);
}

static void format_seqlens(const gpu_case *c, char *buf, size_t size) {
  size_t used = 0;
  int same = 1;
  for (int b = 1; b < c->batch; ++b)
    same &= c->seqlens[b] == c->seqlens[0];
  if (same) {
    snprintf(buf, size, "%d", c->seqlens[0]);
    return;
  }
  buf[0] = '\0';
  for (int b = 0; b < c->batch && used < size; ++b)
    used += (size_t)snprintf(buf + used, size - used, "%s%d", b ? "," : "",
                             c->seqlens[b]);
}

/* The max_seqlen a case's call passes: its own, or its longest sequence. */
static int case_max_seqlen(const gpu_case *c) {
  int max_seqlen = c->max_seqlen;
  if (max_seqlen < 0)
    for (int b = 0; b < c->batch; ++b)
      if (c->seqlens[b] > max_seqlen)
        max_seqlen = c->seqlens[b];
  return max_seqlen;
}

/* Runs one case. Returns 0 passed, 1 failed, -1 a CUDA error that leaves
 * the context unusable (the run stops). */
static int run_case(const skv_gpu *gpu, const skv_attention *attention,
                    CUstream stream, int index, uint64_t seed) {
  const gpu_case *c = &cases[index];
  const double start = skv_host_ms();
  skv_problem_shape shape;
  memset(&shape, 0, sizeof shape);
  shape.batch = c->batch;
  shape.seqlens = c->seqlens;
  shape.max_seqlen = case_max_seqlen(c);
  /* Capacity above the longest sequence, by an amount that is no multiple
   * of a tile, so strides and padding are non-trivial. */
  shape.seq_capacity = shape.max_seqlen + 7;
  shape.order = c->order;
  shape.num_splits = c->splits;
  shape.with_lse = c->with_lse;
  /* A spec of several query tokens: the cases cycle q_len from its
   * max_query_len down to 1 (the shortest sequences then hold tokens that
   * attend to no key). */
  const skv_pkg_spec *spec = skv_attention_record(attention);
  const int max_q = (int)spec->max_query_len;
  shape.q_len = max_q > 1 ? max_q - index % max_q : 0;
  /* A paged spec: every case its own mix of table form, pool order,
   * interleaved pools, permuted or consecutive pages, shared prefixes. */
  const int paged = spec->kv_layout == SKV_KV_PAGED;
  shape.table = (skv_page_table)(index % 2);
  shape.pool = (skv_pool_order)(index / 2 % 2);
  shape.interleaved = index / 4 % 2;
  shape.consecutive = index % 5 == 0;
  shape.shared_prefix = index % 3 == 0;

  char lens[96];
  format_seqlens(c, lens, sizeof lens);
  printf("[%3d/%d] %-10s batch %d seqlen %s", index + 1, case_count, c->what,
         c->batch, lens);
  if (c->max_seqlen >= 0)
    printf(" max_seqlen %d", c->max_seqlen);
  if (c->splits)
    printf(" splits %d", c->splits);
  else
    printf(" splits auto");
  if (shape.q_len)
    printf(" q_len %d", shape.q_len);

  skv_problem *p = NULL;
  skv_status status = skv_problem_create(gpu, attention, &shape, &p);
  if (status) {
    printf("\n");
    print_status("creating the problem", status);
    return 1;
  }
  if (paged)
    printf(" (runs %d x %d threads%s) page %d %s %s%s %s%s%s%s\n", p->num_splits_used,
           p->split_threads_used, p->balanced_used ? " balanced" : "", p->page_size, skv_page_table_name(shape.table),
           skv_pool_order_name(shape.pool), shape.interleaved ? " interleaved" : "",
           shape.consecutive ? "consecutive" : "permuted",
           p->shape.shared_prefix ? " shared-prefix" : "", c->q_scale != 1.0f ? " peaky" : "",
           c->with_lse ? "" : " lse=NULL");
  else
    printf(" (runs %d x %d threads%s) %s%s%s\n", p->num_splits_used, p->split_threads_used,
           p->balanced_used ? " balanced" : "", skv_kv_order_name(c->order),
           c->q_scale != 1.0f ? " peaky" : "", c->with_lse ? "" : " lse=NULL");
  int launch = launch_of(p->split_threads_used);
  if (launch < 0) {
    printf("FAIL: the runtime chose %d threads per CTA, no split kernel of the spec's\n",
           p->split_threads_used);
    skv_problem_destroy(p);
    return 1;
  }
  ++launches.cases[launch];
  fflush(stdout);

  skv_problem_fill(p, seed, c->q_scale);
  status = skv_problem_upload(p);
  int result = 1;
  if (status) {
    print_status("setting up", status);
    goto done;
  }
  skv_problem_reference(p, NULL);
  /* Twice: the second call must not depend on what the first left. */
  for (int call = 1; call <= 2; ++call) {
    status = skv_problem_poison(p);
    if (!status)
      status = skv_problem_decode(p, attention, stream);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuStreamSynchronize(stream),
                              "cuStreamSynchronize after decode", __FILE__,
                              __LINE__);
    if (!status)
      status = skv_problem_download(p);
    if (status) {
      print_status("running the kernel", status);
      result = -1;
      goto done;
    }
    skv_problem_check check;
    skv_problem_compare(p, NULL, &check);
    printf("        call %d: rel_l2 %.2e  worst row %.2e (b %d h %d)  lse %.2e  "
           "%.2f s  %s\n",
           call, check.rel_l2, check.worst_row_rel_l2, check.worst_row_b,
           check.worst_row_h, check.worst_lse_err,
           (skv_host_ms() - start) * 1e-3, check.passed ? "OK" : "FAIL");
    if (!check.passed) {
      printf("FAIL: case %d call %d (seed 0x%016llx): %s\n", index + 1, call,
             (unsigned long long)seed, check.message);
      goto done;
    }
  }
  result = 0;
done:
  skv_problem_destroy(p);
  return result;
}

/* Writes one int32 to the device (a table entry, a length). */
static skv_status write_i32(const skv_gpu *gpu, CUdeviceptr at, int32_t value) {
  return skv_gpu_status(gpu, gpu->cu->cuMemcpyHtoD(at, &value, sizeof value), "cuMemcpyHtoD",
                        __FILE__, __LINE__);
}

/* After rejected calls: the poisoned output must still be poisoned. */
static int expect_out_untouched(skv_problem *p) {
  for (size_t i = 0; i < p->out_elems; ++i)
    if (p->out[i] != 0xFFFF) {
      printf("FAIL: a rejected call wrote out[%zu] = 0x%04x\n", i, p->out[i]);
      return 1;
    }
  return 0;
}

/* Expects INVALID_ARGUMENT from a decode call (contiguous args, or paged
 * ones when paged is not NULL); reports and counts others. */
static int expect_invalid(const skv_attention *attention, const skv_decode_args *args,
                          const skv_paged_decode_args *paged, CUstream stream,
                          const char *what) {
  skv_status status = paged ? skv_attention_decode_paged(attention, paged, stream)
                            : skv_attention_decode(attention, args, stream);
  if (skv_status_code_of(status) == SKV_CODE_INVALID_ARGUMENT) {
    printf("  %-34s INVALID_ARGUMENT: %s\n", what, skv_status_message(status));
    skv_status_free(status);
    return 0;
  }
  printf("FAIL: %s: want INVALID_ARGUMENT, got %s%s%s\n", what,
         skv_status_code_name(skv_status_code_of(status)),
         status ? ": " : "", status ? skv_status_message(status) : "");
  skv_status_free(status);
  return 1;
}

/* Bad calls are rejected before anything runs: the poisoned output stays
 * poisoned. */
static int run_argument_errors(const skv_gpu *gpu,
                               const skv_attention *attention,
                               CUstream stream) {
  printf("argument errors\n");
  skv_problem_shape shape;
  memset(&shape, 0, sizeof shape);
  shape.batch = 2;
  shape.seqlens = (int32_t[]){1000, 1000};
  shape.max_seqlen = shape.seq_capacity = 1000;
  shape.num_splits = 7;
  shape.with_lse = 1;
  skv_problem *p = NULL;
  skv_status status = skv_problem_create(gpu, attention, &shape, &p);
  if (status) {
    print_status("creating the problem", status);
    return 1;
  }
  int failures = 0;
  status = skv_problem_upload(p);
  if (!status)
    status = skv_problem_poison(p);
  if (status) {
    print_status("setting up", status);
    skv_problem_destroy(p);
    return 1;
  }
  if (p->workspace_size <= 16) {
    printf("FAIL: workspace for 7 splits is %zu bytes, expected partial "
           "results to need more\n", p->workspace_size);
    ++failures;
  }
  const skv_decode_args good = skv_problem_args(p);
  const skv_paged_decode_args good_paged = skv_problem_paged_args(p);
  const int paged = p->page_size > 0;
  skv_decode_args args = good;
  skv_paged_decode_args paged_args = good_paged;
  const skv_paged_decode_args *g = paged ? &paged_args : NULL;
  args.workspace_size = paged_args.workspace_size = 16;
  failures += expect_invalid(attention, &args, g, stream, "workspace of 16 bytes");
  /* One byte short of what the call needs, as the refusal of an empty
   * workspace states it: with several query tokens a call may need less
   * than the size reported for the spec (the most of any q_len), never
   * more. */
  args = good;
  paged_args = good_paged;
  args.lse = paged_args.lse = NULL;
  args.q_len = paged_args.q_len = (int)p->spec->max_query_len;
  args.workspace_size = paged_args.workspace_size = 0;
  skv_status need_status = paged ? skv_attention_decode_paged(attention, &paged_args, stream)
                                 : skv_attention_decode(attention, &args, stream);
  const char *needs = need_status ? strstr(skv_status_message(need_status), "needs ") : NULL;
  size_t need = 0;
  if (!needs || sscanf(needs, "needs %zu", &need) != 1 || need == 0 ||
      need > p->workspace_size) {
    printf("FAIL: an empty workspace: want 'this call needs N' with N at most the %zu bytes "
           "reported, got %s\n",
           p->workspace_size, need_status ? skv_status_message(need_status) : "OK");
    ++failures;
  }
  skv_status_free(need_status);
  args.workspace_size = paged_args.workspace_size = need - 1;
  failures += expect_invalid(attention, &args, g, stream, "lse NULL, workspace 1 byte short");
  args = good;
  paged_args = good_paged;
  args.workspace = paged_args.workspace = NULL;
  args.workspace_size = paged_args.workspace_size = 0;
  failures += expect_invalid(attention, &args, g, stream, "workspace NULL");
  args = good;
  paged_args = good_paged;
  args.num_q_heads += 1;
  paged_args.num_q_heads += 1;
  failures += expect_invalid(attention, &args, g, stream, "num_q_heads mismatch");
  args = good;
  paged_args = good_paged;
  args.q_len = paged_args.q_len = (int)p->spec->max_query_len + 1;
  failures += expect_invalid(attention, &args, g, stream, "q_len above max_query_len");
  args.q_len = paged_args.q_len = -1;
  failures += expect_invalid(attention, &args, g, stream, "q_len negative");
  /* The other layout's call. */
  failures += expect_invalid(attention, &good, paged ? NULL : &good_paged, stream,
                             paged ? "contiguous call, paged spec" : "paged call, contiguous spec");
  if (paged) {
    paged_args = good_paged;
    paged_args.block_table = (const int32_t *)(uintptr_t)p->d_table;
    paged_args.block_table_stride = 1;
    paged_args.page_indptr = paged_args.page_indices = NULL;
    failures += expect_invalid(attention, &args, &paged_args, stream,
                               "block table rows too short");
  }

  status = skv_gpu_status(gpu, gpu->cu->cuStreamSynchronize(stream),
                          "cuStreamSynchronize", __FILE__, __LINE__);
  if (!status)
    status = skv_problem_download(p);
  if (status) {
    print_status("reading back", status);
    ++failures;
  } else {
    failures += expect_out_untouched(p);
  }
  skv_problem_destroy(p);
  return failures;
}

/* Expects INVALID_ARGUMENT whose message holds `want` from a paged call. */
static int expect_page_check(const skv_attention *attention, const skv_paged_decode_args *args,
                             CUstream stream, const char *what, const char *want) {
  skv_status status = skv_attention_decode_paged(attention, args, stream);
  const char *message = status ? skv_status_message(status) : "";
  int ok = skv_status_code_of(status) == SKV_CODE_INVALID_ARGUMENT && strstr(message, want);
  printf("  %-34s %s%s%s\n", what, ok ? "" : "FAIL: want INVALID_ARGUMENT with '", ok ? message : want,
         ok ? "" : "'");
  if (!ok)
    printf("    got %s: %s\n", skv_status_code_name(skv_status_code_of(status)), message);
  skv_status_free(status);
  return !ok;
}

/* Spec `name` loaded with `variable`=`value` in the environment (read at
 * create); NULL after reporting a failure. */
static skv_attention *create_with(const skv_package *package, const char *name,
                                  const char *variable, const char *value) {
  setenv(variable, value, 1);
  skv_attention *attention = NULL;
  skv_status status = skv_attention_create(package, name, &attention);
  unsetenv(variable);
  if (status) {
    printf("FAIL: creating %s with %s=%s: %s\n", name, variable, value,
           skv_status_message(status));
    skv_status_free(status);
    return NULL;
  }
  return attention;
}

/* The page check (SKV_CHECK_PAGES=1 at create), both table forms: a good
 * call runs and is exact; a page id outside the pool, a length past
 * max_seqlen, a CSR row short of pages, a missing num_pages and a call
 * under stream capture are rejected, naming the entry, before anything
 * runs (out stays poisoned). */
static int run_page_check(const skv_gpu *gpu, const skv_package *package, const char *name,
                          CUstream stream, uint64_t seed) {
  printf("page check\n");
  skv_attention *attention = create_with(package, name, "SKV_CHECK_PAGES", "1");
  if (!attention)
    return 1;
  skv_status status = SKV_OK;
  int failures = 0;
  for (int form = SKV_TABLE_BLOCK; form <= SKV_TABLE_CSR && !status; ++form) {
    skv_problem_shape shape;
    memset(&shape, 0, sizeof shape);
    shape.batch = 3;
    shape.seqlens = (int32_t[]){1000, 17, 0};
    shape.max_seqlen = shape.seq_capacity = 1000;
    shape.with_lse = 1;
    shape.table = (skv_page_table)form;
    skv_problem *p = NULL;
    status = skv_problem_create(gpu, attention, &shape, &p);
    if (status)
      break;
    skv_problem_fill(p, skv_seed_mix(seed, 200 + form), 1.0f);
    status = skv_problem_upload(p);
    if (!status)
      status = skv_problem_poison(p);
    if (!status)
      status = skv_problem_decode(p, attention, stream);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuStreamSynchronize(stream), "cuStreamSynchronize",
                              __FILE__, __LINE__);
    if (!status)
      status = skv_problem_download(p);
    if (!status) {
      skv_problem_reference(p, NULL);
      skv_problem_check check;
      skv_problem_compare(p, NULL, &check);
      printf("  %s table, checked call: rel_l2 %.2e %s\n", skv_page_table_name(shape.table),
             check.rel_l2, check.passed ? "OK" : "FAIL");
      failures += !check.passed;
    }
    const skv_paged_decode_args good = skv_problem_paged_args(p);
    skv_paged_decode_args args = good;
    /* Sequence 0's sixth page, or its last where its 1000 tokens fill
     * fewer (page_size > 200). */
    const int pages0 = (1000 + p->page_size - 1) / p->page_size;
    const int page = pages0 < 6 ? pages0 - 1 : 5;
    const int64_t entry = (form == SKV_TABLE_CSR ? p->indptr[0] : 0) + page;
    const CUdeviceptr at = p->d_table + (CUdeviceptr)entry * sizeof(int32_t);
    if (!status)
      status = skv_problem_poison(p);
    if (!status)
      status = write_i32(gpu, at, p->num_pages);
    if (!status) {
      char want[64];
      snprintf(want, sizeof want, "(page %d of sequence 0) is", page);
      failures += expect_page_check(attention, &args, stream, "a page id past the pool", want);
      args.num_pages = 0;
      failures += expect_page_check(attention, &args, stream, "no num_pages", "needs num_pages");
      args = good;
      status = write_i32(gpu, at, p->table[entry]);
    }
    if (!status)
      status = write_i32(gpu, p->d_seqlens + sizeof(int32_t), 1001);
    if (!status)
      failures += expect_page_check(attention, &args, stream, "a length past max_seqlen",
                                    "seqlens[1] is 1001");
    if (!status && form == SKV_TABLE_CSR) {
      status = skv_problem_upload(p); /* good lengths again */
      if (!status)
        status = write_i32(gpu, p->d_indptr + sizeof(int32_t), p->indptr[0] + 3);
      if (!status)
        failures += expect_page_check(attention, &args, stream, "a CSR row short of pages",
                                      "gives sequence 0 3 pages");
    }
    if (!status) {
      CUgraph graph = NULL;
      status = skv_gpu_status(gpu, gpu->cu->cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                              "cuStreamBeginCapture", __FILE__, __LINE__);
      if (!status) {
        failures += expect_page_check(attention, &args, stream, "under stream capture",
                                      "cannot run under stream capture");
        status = skv_gpu_status(gpu, gpu->cu->cuStreamEndCapture(stream, &graph),
                                "cuStreamEndCapture", __FILE__, __LINE__);
        if (graph)
          gpu->cu->cuGraphDestroy(graph);
      }
    }
    if (!status)
      status = skv_problem_download(p);
    if (!status)
      failures += expect_out_untouched(p);
    skv_problem_destroy(p);
  }
  if (status) {
    print_status("page check", status);
    ++failures;
  }
  skv_attention_destroy(attention);
  return failures;
}

/* The captured step of run_graph_replays: one decode of the problem. */
typedef struct replay_step {
  skv_problem *p;
  const skv_attention *attention;
} replay_step;

static skv_status decode_step(void *ctx, CUstream stream) {
  replay_step *step = ctx;
  return skv_problem_decode(step->p, step->attention, stream);
}

/* The decode step of an engine under CUDA graphs: captured once with
 * max_seqlen at the cache's capacity, then replayed while the lengths grow,
 * shrink, go ragged and to zero, and (paged) the page tables change, every
 * replay checked against the reference. The launch (grid, split count,
 * workspace) depends on max_seqlen alone; the lengths and pages are read on
 * the device. */
static int run_graph_replays(const skv_gpu *gpu, const skv_attention *attention,
                             CUstream stream, uint64_t seed) {
  enum { BATCH = 4, CAPACITY = 3000, STEPS = 6 };
  static const int32_t lengths[STEPS][BATCH] = {
      {100, 200, 300, 0},  {1000, 1500, 2000, 1}, {3000, 3000, 3000, 3000},
      {1, 0, 2, 3},        {2999, 17, 0, 1024},   {0, 0, 0, 0}};
  printf("graph replays: batch %d, captured at max_seqlen %d\n", BATCH, CAPACITY);
  skv_problem_shape shape;
  memset(&shape, 0, sizeof shape);
  shape.batch = BATCH;
  shape.seqlens = lengths[0];
  shape.max_seqlen = shape.seq_capacity = CAPACITY;
  shape.with_lse = 1;
  shape.table = SKV_TABLE_CSR; /* its indptr changes with the lengths */
  shape.shared_prefix = 1;
  /* Several query tokens: the most a call may give. */
  const skv_pkg_spec *spec = skv_attention_record(attention);
  shape.q_len = spec->max_query_len > 1 ? (int)spec->max_query_len : 0;
  skv_problem *p = NULL;
  skv_status status = skv_problem_create(gpu, attention, &shape, &p);
  if (status) {
    print_status("creating the problem", status);
    return 1;
  }
  CUgraph graph = NULL;
  CUgraphExec exec = NULL;
  int failures = 0;
  status = skv_problem_upload(p);
  replay_step step_ctx = {p, attention};
  if (!status)
    status = skv_gpu_capture(gpu, stream, decode_step, &step_ctx, &graph, &exec);
  for (int step = 0; step < STEPS && !status; ++step) {
    status = skv_problem_set_lengths(p, lengths[step], skv_seed_mix(seed, 100 + step));
    if (status)
      break;
    skv_problem_fill(p, skv_seed_mix(seed, step), 1.0f);
    status = skv_problem_upload(p);
    if (!status)
      status = skv_problem_poison(p);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuGraphLaunch(exec, stream), "cuGraphLaunch",
                              __FILE__, __LINE__);
    if (!status)
      status = skv_gpu_status(gpu, gpu->cu->cuStreamSynchronize(stream),
                              "cuStreamSynchronize", __FILE__, __LINE__);
    if (!status)
      status = skv_problem_download(p);
    if (status)
      break;
    skv_problem_reference(p, NULL);
    skv_problem_check check;
    skv_problem_compare(p, NULL, &check);
    printf("  replay %d: seqlen %d,%d,%d,%d: rel_l2 %.2e lse %.2e %s\n", step + 1,
           lengths[step][0], lengths[step][1], lengths[step][2], lengths[step][3], check.rel_l2,
           check.worst_lse_err, check.passed ? "OK" : "FAIL");
    if (!check.passed) {
      printf("FAIL: graph replay %d: %s\n", step + 1, check.message);
      ++failures;
    }
  }
  if (status) {
    print_status("graph replays", status);
    ++failures;
  }
  if (exec)
    gpu->cu->cuGraphExecDestroy(exec);
  if (graph)
    gpu->cu->cuGraphDestroy(graph);
  skv_problem_destroy(p);
  return failures;
}

/* Picks the cases to run into selected[]: case only_case (1-based) alone,
 * or every `every`th case. A sample (every > 1) also takes the first case
 * of each launch (narrow, wide) that it would otherwise miss: both are
 * paths of their own, and which calls take which follows the spec. */
static skv_status select_cases(const skv_attention *attention, int only_case, int every,
                               int *selected) {
  int sampled[SKV_MAX_KERNELS] = {0}, first[SKV_MAX_KERNELS];
  for (int l = 0; l < SKV_MAX_KERNELS; ++l)
    first[l] = -1;
  for (int i = 0; i < case_count; ++i) {
    selected[i] = only_case ? i + 1 == only_case : i % every == 0;
    int threads = 0;
    skv_status status = skv_attention_split_threads(
        attention, cases[i].batch, case_max_seqlen(&cases[i]), cases[i].splits, &threads);
    if (status)
      return status;
    int launch = launch_of(threads);
    if (launch < 0)
      continue; /* run_case reports it */
    sampled[launch] |= selected[i];
    if (first[launch] < 0)
      first[launch] = i;
  }
  for (int l = 0; l < launches.count && !only_case; ++l)
    if (!sampled[l] && first[l] >= 0)
      selected[first[l]] = 1;
  return SKV_OK;
}

/* The balanced partition forced (SKV_PARTITION=balanced at create) on the
 * grid's auto-split cases, uniform or not, and the graph replays: every
 * shape must be exact when the kernels cut the work by the batch's
 * lengths. only_case and every select among those cases as in the grid.
 * Adds the cases run and passed; returns the failures. */
static int run_balanced(skv_gpu *gpu, const skv_package *package, const char *name,
                        CUstream stream, uint64_t seed, int only_case, int every,
                        int *passed, int *run) {
  printf("balanced partition\n");
  skv_attention *attention = create_with(package, name, "SKV_PARTITION", "balanced");
  if (!attention)
    return 1;
  int failures = only_case || every > 1 ? 0 : run_graph_replays(gpu, attention, stream, seed);
  for (int i = 0, auto_cases = 0; i < case_count; ++i) {
    if (cases[i].splits != 0)
      continue;
    if (only_case ? i + 1 != only_case : auto_cases++ % every != 0)
      continue;
    ++*run;
    int result = run_case(gpu, attention, stream, i, skv_seed_mix(seed, 1000 + (uint64_t)i));
    if (result == 0)
      ++*passed;
    else
      ++failures;
    if (result < 0) {
      printf("FAIL: stopping: the CUDA context is unusable after that error\n");
      break;
    }
  }
  skv_attention_destroy(attention);
  return failures;
}

/* Runs the grid for one spec of the package: 0 passed, 1 failed, 77 no
 * image for this GPU. expect_image 0 accepts either kind. */
static int run_spec(skv_gpu *gpu, const skv_package *package, CUstream stream,
                    const char *spec_name, uint64_t base_seed, int only_case,
                    int every, skv_image_kind expect_image) {
  skv_attention *attention = NULL;
  skv_status status = skv_attention_create(package, spec_name, &attention);
  if (skv_status_code_of(status) == SKV_CODE_UNSUPPORTED) {
    int code = skip(skv_status_message(status));
    skv_status_free(status);
    return code;
  }
  if (status) {
    print_status(spec_name, status);
    return 1;
  }
  const skv_pkg_spec *spec = skv_attention_record(attention);
  skv_attention_image_info image;
  skv_attention_image(attention, &image);
  printf("spec %s: %s, head_dim %d, q heads %d, kv heads %d, scale %g, "
         "splits %s; image %s sm_%u, loaded in %.0f us\n",
         spec->name, skv_dtype_name((skv_dtype)spec->dtype),
         spec->head_dim, spec->num_q_heads, spec->num_kv_heads,
         (double)spec->softmax_scale, spec->splits ? "fixed" : "auto",
         skv_image_kind_name(image.kind), image.sm, image.load_us);
  int failures = 0;
  if (expect_image && image.kind != expect_image) {
    printf("FAIL: %s: loaded the %s sm_%u image, --expect-image %s\n",
           spec->name, skv_image_kind_name(image.kind), image.sm,
           skv_image_kind_name(expect_image));
    ++failures;
  }
  launches.count = 0;
  for (uint32_t k = 0; k < spec->kernel_count; ++k) {
    const skv_kernel_desc *kernel = skv_package_kernel_at(package, spec->first_kernel + k);
    if (kernel->role == SKV_KERNEL_SPLIT) {
      launches.threads[launches.count] = (int)kernel->threads;
      launches.cases[launches.count++] = 0;
    }
  }
  failures += only_case ? 0 : run_argument_errors(gpu, attention, stream);
  failures += only_case || every > 1 ? 0 : run_graph_replays(gpu, attention, stream, base_seed);
  failures += only_case || every > 1 || !spec->page_size
                  ? 0
                  : run_page_check(gpu, package, spec_name, stream, base_seed);
  int selected[MAX_CASES];
  status = select_cases(attention, only_case, every, selected);
  if (status) {
    print_status("choosing the launches", status);
    skv_attention_destroy(attention);
    return 1;
  }
  int passed = 0, run = 0, broken = 0;
  double start = skv_host_ms();
  for (int i = 0; i < case_count; ++i) {
    if (!selected[i])
      continue;
    ++run;
    int result = run_case(gpu, attention, stream, i,
                          skv_seed_mix(base_seed, (uint64_t)i));
    if (result == 0)
      ++passed;
    else
      ++failures;
    if (result < 0) {
      printf("FAIL: stopping: the CUDA context is unusable after that error\n");
      broken = 1;
      break;
    }
  }
  if (!spec->splits && !broken)
    failures += run_balanced(gpu, package, spec_name, stream, base_seed, only_case, every,
                             &passed, &run);
  /* Every launch is a path of its own: the grid, or a sample of it of 16
   * cases or more (memcheck's, select_cases), must run each. */
  for (int l = 0; l < launches.count; ++l) {
    printf("%s: %d of %d cases ran the launch of %d threads\n", spec->name,
           launches.cases[l], run, launches.threads[l]);
    if (!only_case && run >= 16 && launches.cases[l] == 0) {
      printf("FAIL: %s: the launch of %d threads never ran\n", spec->name,
             launches.threads[l]);
      ++failures;
    }
  }
  printf("%s: %s: %d of %d cases passed, %d failure(s), %.1f s\n",
         failures ? "FAIL" : "PASS", spec->name, passed, run, failures,
         (skv_host_ms() - start) * 1e-3);
  skv_attention_destroy(attention);
  return failures ? 1 : 0;
}

static void usage(void) {
  fprintf(stderr, "usage: test_gpu_decode PACKAGE SPEC|all [--seed N] "
                  "[--case I | --every N] [--expect-image cubin|ptx]\n");
}

int main(int argc, char **argv) {
  if (argc < 3) {
    usage();
    return 2;
  }
  const char *package_path = argv[1];
  const char *spec_name = argv[2];
  uint64_t base_seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
  int only_case = 0;
  int every = 1;
  skv_image_kind expect_image = 0;
  for (int i = 3; i < argc; ++i) {
    if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      base_seed = strtoull(argv[++i], NULL, 0);
    } else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc) {
      only_case = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--expect-image") == 0 && i + 1 < argc) {
      ++i;
      if (strcmp(argv[i], "cubin") == 0) {
        expect_image = SKV_IMAGE_CUBIN;
      } else if (strcmp(argv[i], "ptx") == 0) {
        expect_image = SKV_IMAGE_PTX;
      } else {
        usage();
        return 2;
      }
    } else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc) {
      every = atoi(argv[++i]);
      if (every < 1) {
        usage();
        return 2;
      }
    } else {
      usage();
      return 2;
    }
  }

  skv_gpu gpu;
  skv_status status = skv_gpu_open(&gpu);
  if (skv_status_code_of(status) == SKV_CODE_NO_DRIVER) {
    int code = skip(skv_status_message(status));
    skv_status_free(status);
    return code;
  }
  if (status) {
    print_status("opening the GPU", status);
    return 1;
  }
  printf("device %s (sm_%d%d, %d SMs), driver %d\n", gpu.name, gpu.cc_major,
         gpu.cc_minor, gpu.sm_count, gpu.driver_version);

  int exit_code = 1;
  skv_package *package = NULL;
  CUstream stream = NULL;
  status = skv_package_open_file(package_path, &package);
  if (status) {
    print_status(package_path, status);
    goto done;
  }
  status = skv_gpu_status(&gpu, gpu.cu->cuStreamCreate(&stream, 0),
                          "cuStreamCreate", __FILE__, __LINE__);
  if (status) {
    print_status("creating a stream", status);
    goto done;
  }
  printf("seed 0x%016llx (replay with --seed 0x%016llx)\n",
         (unsigned long long)base_seed, (unsigned long long)base_seed);
  build_grid();
  if (only_case < 0 || only_case > case_count) {
    fprintf(stderr, "--case %d: cases are 1..%d\n", only_case, case_count);
    exit_code = 2;
    goto done;
  }
  /* "all": every spec the package holds (a file may hold several). */
  int all = strcmp(spec_name, "all") == 0;
  uint32_t count = all ? skv_package_spec_count(package) : 1;
  int skipped = 0, failed = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const char *name = all ? skv_package_spec_at(package, i)->name : spec_name;
    int result = run_spec(&gpu, package, stream, name, base_seed, only_case,
                          every, expect_image);
    skipped += result == SKIP_RETURN_CODE;
    failed += result != 0 && result != SKIP_RETURN_CODE;
  }
  exit_code = failed ? 1 : skipped == (int)count ? SKIP_RETURN_CODE : 0;

done:
  if (stream)
    gpu.cu->cuStreamDestroy(stream);
  skv_package_destroy(package);
  skv_gpu_close(&gpu);
  return exit_code;
}
