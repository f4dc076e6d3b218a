/* Attention: load one spec's kernels, plan and launch decode calls. */
/* clock_gettime is POSIX, hidden by -std=c11 otherwise. */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention_internal.h"
#include "cuda_driver.h"
#include "package_internal.h"
#include "splitkv/kernel_abi.h"


struct skv_attention {
  const skv_package *package; /* borrowed */
  const skv_pkg_spec *spec;   /* borrowed from package */
  CUcontext context;          /* the module's context */
  CUmodule module;
  CUfunction split_fns[2]; /* the narrow launch's kernel, and the wide
                               one's if the spec has it (fill_count 2) */
  CUfunction combine_fn;
  skv_device_fill fills[2]; /* the same launches */
  int fill_count;
  skv_attention_image_info image;
};

#define INVALID(...) SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, __VA_ARGS__)

/* ---- driver-free planning ----------------------------------------------- */

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
                             int max_seqlen, int num_splits_override,
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
  int64_t rows = (int64_t)batch * spec->num_kv_heads;
  int64_t slots = (int64_t)fill.sms * fill.ctas_per_sm;
  int64_t cta_step = (int64_t)spec->tokens_per_step * fill.split_threads / spec->split_threads;
  int64_t splits = 1;
  if (rows < slots && max_seqlen > cta_step) {
    splits = slots / rows;
    int64_t warp_step = (int64_t)spec->tokens_per_step * 32 / spec->split_threads;
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

skv_status skv_launch_choose(const skv_pkg_spec *spec, const skv_device_fill *fills,
                             int count, int batch, int max_seqlen,
                             int num_splits_override, int *out_fill,
                             int *out_num_splits) {
  /* Measured on an H100 and an H200 (bench/NOTES.md §27): a wide launch
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
    SKV_RETURN_IF_ERROR_PLAIN(skv_splits_choose(spec, fills[i], batch, max_seqlen,
                                                num_splits_override, &splits));
    int64_t ctas = (int64_t)batch * spec->num_kv_heads * splits;
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

int skv_combine_lanes_choose(const skv_pkg_spec *spec, skv_device_fill fill,
                             int batch, int num_splits) {
  /* Every combine CTA should be waiting on an SM when the split kernel
   * ends; one that finds no room starts only as split CTAs leave. At 32
   * lanes a slice per warp: codellama_34b (64 q heads, 1024 warps where an
   * H100 holds 528) took 31.0 us at 16384 tokens, 28.6 at 8 lanes; where
   * the warps fit, 32 lanes are faster (MHA16: 16.2 us, 16.6 at 8). */
  const int64_t slices = spec->head_dim / 8;
  const int64_t rows = (int64_t)batch * spec->num_q_heads;
  int lanes = 32;
  while (fill.combine_warps > 0 && lanes > 1) {
    int64_t warps = (rows * slices * lanes + 31) / 32;
    int half = lanes / 2;
    /* combine_threads is whole warps: half divides it. */
    if (warps <= fill.combine_warps || (int64_t)half * SKV_COMBINE_UNROLL < num_splits ||
        slices % (spec->combine_threads / half) != 0)
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
                            int max_seqlen) {
  int64_t bytes = 2 * (int64_t)batch * spec->num_kv_heads * max_seqlen * spec->head_dim *
                  (int64_t)sizeof(uint16_t);
  return fill.late_trigger_bytes > 0 && bytes >= fill.late_trigger_bytes;
}

static size_t align_up(size_t n) {
  return (n + SKV_WORKSPACE_ALIGN - 1) / SKV_WORKSPACE_ALIGN * SKV_WORKSPACE_ALIGN;
}

/* Fills the plan's offsets and the full size (lse scratch included). */
static void workspace_layout(const skv_pkg_spec *spec, int batch,
                             int num_splits, skv_decode_plan *plan) {
  size_t rows = (size_t)batch * spec->num_q_heads;
  size_t parts = num_splits > 1 ? rows * (size_t)num_splits : 0;
  plan->num_splits = num_splits;
  plan->part_out_offset = 0;
  plan->part_lse_offset = align_up(parts * spec->head_dim * sizeof(float));
  plan->lse_offset = plan->part_lse_offset + align_up(parts * sizeof(float));
  plan->workspace_bytes = plan->lse_offset + align_up(rows * sizeof(float));
}

size_t skv_workspace_bytes(const skv_pkg_spec *spec, int batch, int num_splits) {
  skv_decode_plan plan;
  workspace_layout(spec, batch, num_splits, &plan);
  return plan.workspace_bytes;
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

skv_status skv_decode_plan_make(const skv_pkg_spec *spec, const skv_device_fill *fills,
                                int fill_count, const skv_decode_args *args,
                                skv_decode_plan *out_plan) {
  if (!args)
    return INVALID("args is NULL");
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(args->q, "q", false));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(args->k, "k", false));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(args->v, "v", false));
  if (!args->seqlens)
    return INVALID("seqlens is NULL");
  if ((uintptr_t)args->seqlens % sizeof(int32_t) != 0)
    return INVALID("seqlens (%p) is not 4-byte aligned", (void *)args->seqlens);
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(args->out, "out", false));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(args->lse, "lse", true));
  SKV_RETURN_IF_ERROR_PLAIN(check_pointer(args->workspace, "workspace", true));
  SKV_RETURN_IF_ERROR_PLAIN(
      check_sizes(args->batch, args->max_seqlen, args->num_splits));
  SKV_RETURN_IF_ERROR_PLAIN(
      check_match(args->num_q_heads, spec->num_q_heads, "num_q_heads", spec));
  SKV_RETURN_IF_ERROR_PLAIN(check_match(args->num_kv_heads, spec->num_kv_heads,
                                        "num_kv_heads", spec));
  SKV_RETURN_IF_ERROR_PLAIN(
      check_match(args->head_dim, spec->head_dim, "head_dim", spec));
  SKV_RETURN_IF_ERROR_PLAIN(check_stride(args->k_stride_batch, "k_stride_batch"));
  SKV_RETURN_IF_ERROR_PLAIN(check_stride(args->k_stride_seq, "k_stride_seq"));
  SKV_RETURN_IF_ERROR_PLAIN(check_stride(args->k_stride_head, "k_stride_head"));
  SKV_RETURN_IF_ERROR_PLAIN(check_stride(args->v_stride_batch, "v_stride_batch"));
  SKV_RETURN_IF_ERROR_PLAIN(check_stride(args->v_stride_seq, "v_stride_seq"));
  SKV_RETURN_IF_ERROR_PLAIN(check_stride(args->v_stride_head, "v_stride_head"));

  skv_decode_plan plan;
  int num_splits = 0, fill = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_launch_choose(spec, fills, fill_count, args->batch,
                                              args->max_seqlen, args->num_splits, &fill,
                                              &num_splits));
  workspace_layout(spec, args->batch, num_splits, &plan);
  plan.launch = fill;
  plan.combine_lanes = skv_combine_lanes_choose(spec, fills[fill], args->batch, num_splits);
  plan.combine_late = skv_combine_late_choose(spec, fills[fill], args->batch, args->max_seqlen);
  if (args->lse)
    plan.workspace_bytes = plan.lse_offset;
  size_t have = args->workspace ? args->workspace_size : 0;
  if (have < plan.workspace_bytes) {
    if (!args->workspace)
      return INVALID("workspace is NULL, this call needs %zu bytes "
                     "(num_splits %d)",
                     plan.workspace_bytes, num_splits);
    return INVALID("workspace is %zu bytes, this call needs %zu (num_splits %d)",
                   have, plan.workspace_bytes, num_splits);
  }
  *out_plan = plan;
  return SKV_OK;
}

/* ---- loading ------------------------------------------------------------ */

static skv_status spec_find(const skv_package *package, const char *name,
                            const skv_pkg_spec **out_spec) {
  uint32_t count = skv_package_spec_count(package);
  for (uint32_t i = 0; i < count; ++i) {
    if (strcmp(package->specs[i].name, name) == 0) {
      *out_spec = &package->specs[i];
      return SKV_OK;
    }
  }
  char names[512] = "";
  size_t used = 0;
  for (uint32_t i = 0; i < count && used < sizeof(names); ++i)
    used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                             i ? ", " : "", package->specs[i].name);
  return SKV_ERROR(SKV_CODE_NOT_FOUND, "no spec \"%s\" in the package; it has: %s",
                   name, count ? names : "(none)");
}

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

static double host_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* Loads an image into the current context and says how long that took,
 * with the JIT's log in the message when PTX does not compile. */
static skv_status module_load(const skv_package *package,
                              const skv_pkg_image *image, CUmodule *out_module,
                              double *out_load_us) {
  char log[4096] = "";
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, (void *)(uintptr_t)sizeof(log)};
  CUmodule module = NULL;
  double start = host_us();
  CUresult result = skv_cu.cuModuleLoadDataEx(
      &module, package->data + image->offset, 2, options, values);
  double load_us = host_us() - start;
  if (result != CUDA_SUCCESS) {
    log[sizeof(log) - 1] = '\0';
    skv_status cuda = skv_cuda_status(result, "cuModuleLoadDataEx", __FILE__,
                                      __LINE__);
    skv_status status = SKV_ERROR(
        SKV_CODE_CUDA_ERROR, "loading the %s sm_%u image: %s%s%s",
        skv_image_kind_name((skv_image_kind)image->kind), image->sm, skv_status_message(cuda),
        log[0] ? "\nJIT log:\n" : "", log);
    skv_status_free(cuda);
    return status;
  }
  *out_module = module;
  *out_load_us = load_us;
  return SKV_OK;
}

/* Looks up one kernel and checks that the device can run it as the spec
 * asks: its block size under the kernel's own limit, its shared memory under
 * the device's opt-in limit (raising the kernel's limit when above the
 * default). */
static skv_status kernel_get(CUmodule module, const char *entry,
                             uint32_t threads, uint32_t dynamic_smem,
                             int smem_optin, CUfunction *out_function) {
  CUfunction function = NULL;
  CUresult result = skv_cu.cuModuleGetFunction(&function, module, entry);
  if (result == CUDA_ERROR_NOT_FOUND)
    return SKV_ERROR(SKV_CODE_NOT_FOUND, "kernel %s is not in the image",
                     entry);
  SKV_RETURN_IF_ERROR(skv_cuda_status(result, "cuModuleGetFunction", __FILE__,
                                      __LINE__),
                      "kernel %s", entry);
  int max_threads = 0;
  int static_smem = 0;
  SKV_RETURN_IF_ERROR(SKV_CU_CALL(cuFuncGetAttribute, &max_threads,
                                  CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                  function),
                      "kernel %s", entry);
  SKV_RETURN_IF_ERROR(SKV_CU_CALL(cuFuncGetAttribute, &static_smem,
                                  CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function),
                      "kernel %s", entry);
  if ((int64_t)threads > max_threads)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "kernel %s runs at most %d threads per block on this "
                     "device, the spec launches %u",
                     entry, max_threads, threads);
  int64_t smem = (int64_t)static_smem + dynamic_smem;
  if (smem > smem_optin)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "kernel %s needs %lld bytes of shared memory (%d static + "
                     "%u dynamic), the device allows %d per block",
                     entry, (long long)smem, static_smem, dynamic_smem,
                     smem_optin);
  if (smem > SKV_STATIC_SMEM_LIMIT)
    SKV_RETURN_IF_ERROR(
        SKV_CU_CALL(cuFuncSetAttribute, function,
                    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    (int)dynamic_smem),
        "kernel %s: raising dynamic shared memory to %u bytes", entry,
        dynamic_smem);
  *out_function = function;
  return SKV_OK;
}

/* The current context, or device 0's primary context made current. The
 * primary context is retained and never released: the caller's thread (and
 * any other that decode makes it current on) keeps a valid handle, as with
 * the CUDA runtime. */
static skv_status context_get(CUcontext *out_context, CUdevice *out_device) {
  CUcontext context = NULL;
  CUdevice device = 0;
  SKV_CU_RETURN_IF_ERROR(cuCtxGetCurrent, &context);
  if (context) {
    SKV_CU_RETURN_IF_ERROR(cuCtxGetDevice, &device);
  } else {
    SKV_CU_RETURN_IF_ERROR(cuDeviceGet, &device, 0);
    SKV_CU_RETURN_IF_ERROR(cuDevicePrimaryCtxRetain, &context, device);
    SKV_CU_RETURN_IF_ERROR(cuCtxSetCurrent, context);
  }
  *out_context = context;
  *out_device = device;
  return SKV_OK;
}

skv_status skv_attention_create(const skv_package *package, const char *name,
                                skv_attention **out_attention) {
  if (!package || !name || !out_attention)
    return INVALID("%s is NULL", !package ? "package"
                                 : !name  ? "name"
                                          : "out_attention");
  const skv_pkg_spec *spec = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(spec_find(package, name, &spec));
  SKV_RETURN_IF_ERROR_PLAIN(skv_driver_init());

  skv_status status = SKV_OK;
  skv_attention *attention = calloc(1, sizeof(*attention));
  if (!attention)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "attention object");
  attention->package = package;
  attention->spec = spec;

  CUdevice device = 0;
  int major = 0, minor = 0, smem_optin = 0;
  char device_name[128] = "";
  uint32_t image = 0;
  status = context_get(&attention->context, &device);
  if (!status)
    status = SKV_CU_CALL(cuDeviceGetName, device_name, sizeof(device_name),
                         device);
  if (!status)
    status = SKV_CU_CALL(cuDeviceGetAttribute, &major,
                         CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
  if (!status)
    status = SKV_CU_CALL(cuDeviceGetAttribute, &minor,
                         CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
  int sm_count = 0;
  if (!status)
    status = SKV_CU_CALL(cuDeviceGetAttribute, &sm_count,
                         CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
  if (!status)
    status = SKV_CU_CALL(cuDeviceGetAttribute, &smem_optin,
                         CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                         device);
  const skv_pkg_image *images = &package->images[spec->first_image];
  if (!status)
    status = skv_image_choose(images, spec->image_count, major * 10 + minor,
                              device_name, &image);
  if (!status) {
    attention->image.kind = (skv_image_kind)images[image].kind;
    attention->image.sm = images[image].sm;
    status = module_load(package, &images[image], &attention->module,
                         &attention->image.load_us);
  }
  attention->fill_count = spec->split_threads_wide ? 2 : 1;
  char wide_entry[SKV_WIDE_ENTRY_MAX];
  if (spec->split_threads_wide)
    skv_pkg_spec_split_wide_entry(spec, wide_entry);
  for (int i = 0; i < attention->fill_count && !status; ++i)
    status = kernel_get(attention->module, i ? wide_entry : spec->split_entry,
                        i ? spec->split_threads_wide : spec->split_threads,
                        spec->split_smem_bytes, smem_optin, &attention->split_fns[i]);
  if (!status)
    status = kernel_get(attention->module, spec->combine_entry,
                        spec->combine_threads, 0, smem_optin,
                        &attention->combine_fn);
  /* The split heuristic fills the device in one wave: how many CTAs of
   * each launch one SM holds (registers, shared memory) decides it. */
  for (int i = 0; i < attention->fill_count && !status; ++i) {
    skv_device_fill *fill = &attention->fills[i];
    fill->sms = sm_count;
    fill->split_threads = (int)(i ? spec->split_threads_wide : spec->split_threads);
    int per_sm = 0;
    status = SKV_CU_CALL(cuOccupancyMaxActiveBlocksPerMultiprocessor, &per_sm,
                         attention->split_fns[i], fill->split_threads,
                         spec->split_smem_bytes);
    fill->ctas_per_sm = per_sm > 0 ? per_sm : 1;
  }
  /* With programmatic dependent launch the combine CTAs wait beside the
   * split CTAs, in the registers these leave; and long calls have the
   * combine kernel trigger late. */
  int registers_per_sm = 0, split_registers = 0, combine_registers = 0;
  int memory_clock_khz = 0, bus_width_bits = 0;
  if (!status && attention->image.sm >= SKV_GRID_DEPENDENCY_SM) {
    status = SKV_CU_CALL(cuDeviceGetAttribute, &registers_per_sm,
                         CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR, device);
    if (!status)
      status = SKV_CU_CALL(cuDeviceGetAttribute, &memory_clock_khz,
                           CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, device);
    if (!status)
      status = SKV_CU_CALL(cuDeviceGetAttribute, &bus_width_bits,
                           CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, device);
    if (!status)
      status = SKV_CU_CALL(cuFuncGetAttribute, &combine_registers,
                           CU_FUNC_ATTRIBUTE_NUM_REGS, attention->combine_fn);
    for (int i = 0; i < attention->fill_count && !status; ++i) {
      skv_device_fill *fill = &attention->fills[i];
      status = SKV_CU_CALL(cuFuncGetAttribute, &split_registers,
                           CU_FUNC_ATTRIBUTE_NUM_REGS, attention->split_fns[i]);
      if (!status)
        fill->combine_warps = skv_combine_warps_resident(
            sm_count, registers_per_sm, fill->ctas_per_sm, fill->split_threads,
            split_registers, combine_registers);
      fill->late_trigger_bytes = skv_late_trigger_bytes(memory_clock_khz, bus_width_bits);
    }
  }
  if (status) {
    skv_attention_destroy(attention);
    return skv_status_annotate(status, "spec %s", name);
  }
  *out_attention = attention;
  return SKV_OK;
}

void skv_attention_destroy(skv_attention *attention) {
  if (!attention)
    return;
  if (attention->module) {
    /* cuModuleUnload acts in the current context: switch to the module's
     * for the call, whatever thread destroys it. Failures leave nothing to
     * recover at this point. */
    CUcontext previous = NULL;
    skv_cu.cuCtxGetCurrent(&previous);
    if (previous != attention->context)
      skv_cu.cuCtxSetCurrent(attention->context);
    skv_cu.cuModuleUnload(attention->module);
    if (previous != attention->context)
      skv_cu.cuCtxSetCurrent(previous);
  }
  free(attention);
}

const skv_pkg_spec *skv_attention_record(const skv_attention *attention) {
  return attention->spec;
}

void skv_attention_info(const skv_attention *attention, skv_spec_info *out_info) {
  skv_pkg_spec_info(attention->spec, out_info);
}

void skv_attention_image(const skv_attention *attention,
                         skv_attention_image_info *out_info) {
  *out_info = attention->image;
}

skv_status skv_attention_num_splits(const skv_attention *attention, int batch,
                                    int max_seqlen, int num_splits_override,
                                    int *out_num_splits) {
  int fill = 0;
  return skv_launch_choose(attention->spec, attention->fills, attention->fill_count, batch,
                           max_seqlen, num_splits_override, &fill, out_num_splits);
}

skv_status skv_attention_split_threads(const skv_attention *attention, int batch,
                                       int max_seqlen, int num_splits_override,
                                       int *out_threads) {
  int fill = 0, splits = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_launch_choose(attention->spec, attention->fills,
                                              attention->fill_count, batch, max_seqlen,
                                              num_splits_override, &fill, &splits));
  *out_threads = attention->fills[fill].split_threads;
  return SKV_OK;
}

skv_status skv_attention_workspace_size(const skv_attention *attention,
                                        int batch, int max_seqlen,
                                        int num_splits_override,
                                        size_t *out_bytes) {
  int num_splits = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_attention_num_splits(
      attention, batch, max_seqlen, num_splits_override, &num_splits));
  *out_bytes = skv_workspace_bytes(attention->spec, batch, num_splits);
  return SKV_OK;
}

/* ---- launching ---------------------------------------------------------- */

/* Decode launches in the attention's context: a thread with none gets it
 * made current (as create does); a thread with another one is an error,
 * since the kernels belong to one context. */
static skv_status context_enter(const skv_attention *attention) {
  CUcontext current = NULL;
  SKV_CU_RETURN_IF_ERROR(cuCtxGetCurrent, &current);
  if (!current)
    SKV_CU_RETURN_IF_ERROR(cuCtxSetCurrent, attention->context);
  else if (current != attention->context)
    return INVALID("the CUDA context current on this thread is not the one "
                   "spec %s was loaded in",
                   attention->spec->name);
  return SKV_OK;
}

static CUdeviceptr device_ptr(const void *p) {
  return (CUdeviceptr)(uintptr_t)p;
}

/* One kernel launch. kernel_abi.h: sm_90+ kernels wait on griddepcontrol,
 * so they are launched as programmatic dependents of the kernel before
 * them: their launch overlaps its tail. */
static skv_status launch(const skv_attention *attention, CUfunction function,
                         unsigned grid_x, unsigned grid_y, unsigned grid_z,
                         unsigned threads, unsigned smem, CUstream stream,
                         void **params) {
  CUlaunchAttribute dependent;
  memset(&dependent, 0, sizeof(dependent));
  dependent.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
  dependent.value.programmaticStreamSerializationAllowed = 1;
  CUlaunchConfig config = {
      .gridDimX = grid_x,
      .gridDimY = grid_y,
      .gridDimZ = grid_z,
      .blockDimX = threads,
      .blockDimY = 1,
      .blockDimZ = 1,
      .sharedMemBytes = smem,
      .hStream = stream,
      .attrs = &dependent,
      .numAttrs = attention->image.sm >= SKV_GRID_DEPENDENCY_SM ? 1u : 0u,
  };
  SKV_CU_RETURN_IF_ERROR(cuLaunchKernelEx, &config, function, params, NULL);
  return SKV_OK;
}

skv_status skv_attention_decode(const skv_attention *attention,
                                const skv_decode_args *args, CUstream stream) {
  if (!attention)
    return INVALID("attention is NULL");
  const skv_pkg_spec *spec = attention->spec;
  skv_decode_plan plan;
  SKV_RETURN_IF_ERROR_PLAIN(
      skv_decode_plan_make(spec, attention->fills, attention->fill_count, args, &plan));
  SKV_RETURN_IF_ERROR_PLAIN(context_enter(attention));

  /* Parameters exactly as kernel_abi.h lists them. */
  uint8_t *workspace = args->workspace;
  CUdeviceptr q = device_ptr(args->q);
  CUdeviceptr k = device_ptr(args->k);
  CUdeviceptr v = device_ptr(args->v);
  CUdeviceptr seqlens = device_ptr(args->seqlens);
  CUdeviceptr out = device_ptr(args->out);
  CUdeviceptr lse = args->lse ? device_ptr(args->lse)
                              : device_ptr(workspace + plan.lse_offset);
  CUdeviceptr part_out =
      workspace ? device_ptr(workspace + plan.part_out_offset) : 0;
  CUdeviceptr part_lse =
      workspace ? device_ptr(workspace + plan.part_lse_offset) : 0;
  int64_t k_sb = args->k_stride_batch, k_st = args->k_stride_seq,
          k_sh = args->k_stride_head;
  int64_t v_sb = args->v_stride_batch, v_st = args->v_stride_seq,
          v_sh = args->v_stride_head;
  int32_t num_splits = plan.num_splits;
  void *split_params[SKV_SPLIT_KERNEL_PARAMS] = {
      &q,    &k,    &v,    &seqlens, &out,  &lse,  &part_out, &part_lse,
      &k_sb, &k_st, &k_sh, &v_sb, &v_st, &v_sh, &num_splits};
  SKV_RETURN_IF_ERROR_PLAIN(launch(attention, attention->split_fns[plan.launch],
                                   (unsigned)num_splits, spec->num_kv_heads,
                                   (unsigned)args->batch,
                                   (unsigned)attention->fills[plan.launch].split_threads,
                                   spec->split_smem_bytes, stream, split_params));
  if (num_splits == 1)
    return SKV_OK;
  int32_t lanes = plan.combine_lanes, late = plan.combine_late;
  void *combine_params[SKV_COMBINE_KERNEL_PARAMS] = {&part_out, &part_lse, &out,
                                                     &lse, &num_splits, &lanes, &late};
  return launch(attention, attention->combine_fn,
                spec->num_q_heads * skv_pkg_spec_combine_row_ctas(spec, (uint32_t)lanes),
                (unsigned)args->batch, 1, spec->combine_threads, 0, stream,
                combine_params);
}
