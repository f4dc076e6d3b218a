/* Loading: one spec's image into the current context, its kernels looked
 * up and checked against the device, the launches a call may pick. */
/* clock_gettime is POSIX, hidden by -std=c11 otherwise. */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention_internal.h"
#include "splitkv/cuda_driver.h"
#include "package_internal.h"

#define INVALID(...) SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, __VA_ARGS__)

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

/* Looks up one kernel and checks that the device can run it as the package
 * says: its block size under the kernel's own limit, its shared memory under
 * the device's opt-in limit (raising the kernel's limit when above the
 * default). */
static skv_status kernel_get(CUmodule module, const skv_kernel_desc *kernel, int smem_optin,
                             CUfunction *out_function) {
  const char *entry = kernel->entry;
  uint32_t threads = kernel->threads, dynamic_smem = kernel->dynamic_smem_bytes;
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
                     "device, the package launches %u",
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

static skv_status device_attribute(CUdevice device, CUdevice_attribute attribute,
                                   int *out_value) {
  return SKV_CU_CALL(cuDeviceGetAttribute, out_value, attribute, device);
}

/* The launches' resident combine warps and late trigger (sm_90+: the
 * combine kernel is a programmatic dependent of the split kernel). */
static skv_status fill_grid_dependency(skv_attention *attention, CUdevice device) {
  int registers_per_sm = 0, combine_registers = 0;
  int memory_clock_khz = 0, bus_width_bits = 0;
  SKV_RETURN_IF_ERROR_PLAIN(device_attribute(
      device, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR, &registers_per_sm));
  SKV_RETURN_IF_ERROR_PLAIN(
      device_attribute(device, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, &memory_clock_khz));
  SKV_RETURN_IF_ERROR_PLAIN(
      device_attribute(device, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, &bus_width_bits));
  SKV_CU_RETURN_IF_ERROR(cuFuncGetAttribute, &combine_registers, CU_FUNC_ATTRIBUTE_NUM_REGS,
                         attention->combine_function);
  skv_launches *launches = &attention->launches;
  for (int i = 0; i < SKV_MAX_KERNELS; ++i) {
    if (i >= launches->count && i != SKV_BALANCED_LAUNCH)
      continue;
    skv_device_fill *fill = &launches->fills[i];
    int split_registers = 0;
    SKV_CU_RETURN_IF_ERROR(cuFuncGetAttribute, &split_registers, CU_FUNC_ATTRIBUTE_NUM_REGS,
                           attention->split_functions[i]);
    fill->combine_warps =
        skv_combine_warps_resident(fill->sms, registers_per_sm, fill->ctas_per_sm,
                                   fill->split_threads, split_registers, combine_registers);
    fill->late_trigger_bytes = skv_late_trigger_bytes(memory_clock_khz, bus_width_bits);
  }
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
  /* Every size a call computes then fits its 64-bit arithmetic, whatever
   * the package (the compiler refuses such specs, a crafted package may
   * not). */
  SKV_RETURN_IF_ERROR(skv_pkg_sizes_check(spec->num_q_heads, spec->num_kv_heads,
                                          spec->head_dim, spec->sliding_window),
                      "spec %s", name);
  SKV_RETURN_IF_ERROR_PLAIN(skv_driver_init());

  const char *check = getenv("SKV_CHECK_PAGES");
  if (check && strcmp(check, "0") != 0 && strcmp(check, "1") != 0)
    return INVALID("SKV_CHECK_PAGES is '%s': set it to 1 (check page tables) or 0", check);
  const char *partition = getenv("SKV_PARTITION");
  if (partition && strcmp(partition, "auto") != 0 && strcmp(partition, "uniform") != 0 &&
      strcmp(partition, "balanced") != 0)
    return INVALID("SKV_PARTITION is '%s': set it to auto, uniform or balanced", partition);

  skv_status status = SKV_OK;
  skv_attention *attention = calloc(1, sizeof(*attention));
  if (!attention)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "attention object");
  /* Copies: a call reads these after the caller may have destroyed the
   * package. */
  attention->spec_record = *spec;
  attention->spec = &attention->spec_record;
  attention->check_pages = check && strcmp(check, "1") == 0;
  /* auto unless asked otherwise (docs/design.md, "Balanced partition"). */
  attention->launches.partition = !partition || strcmp(partition, "auto") == 0
                                      ? SKV_PARTITION_AUTO
                                  : strcmp(partition, "uniform") == 0 ? SKV_PARTITION_UNIFORM
                                                                     : SKV_PARTITION_BALANCED;

  CUdevice device = 0;
  int major = 0, minor = 0, smem_optin = 0, sm_count = 0;
  char device_name[128] = "";
  uint32_t image = 0;
  status = context_get(&attention->context, &device);
  if (!status)
    status = SKV_CU_CALL(cuDeviceGetName, device_name, sizeof(device_name), device);
  if (!status)
    status = device_attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &major);
  if (!status)
    status = device_attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &minor);
  if (!status)
    status = device_attribute(device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &sm_count);
  if (!status)
    status = device_attribute(device, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                              &smem_optin);
  const skv_pkg_image *images = &package->images[spec->first_image];
  if (!status)
    status = skv_image_choose(images, spec->image_count, major * 10 + minor, device_name,
                              &image);
  if (!status) {
    attention->image.kind = (skv_image_kind)images[image].kind;
    attention->image.sm = images[image].sm;
    status = module_load(package, &images[image], &attention->module,
                         &attention->image.load_us);
  }
  /* Every kernel of the spec: a split kernel is a launch a call may pick,
   * the combine kernel merges the chunks. */
  skv_launches *launches = &attention->launches;
  for (uint32_t k = 0; k < spec->kernel_count && !status; ++k) {
    /* The verifier allows at most SKV_MAX_KERNELS per spec. */
    attention->kernel_records[k] = package->kernels[spec->first_kernel + k];
    const skv_kernel_desc *kernel = &attention->kernel_records[k];
    CUfunction function = NULL;
    status = kernel_get(attention->module, kernel, smem_optin, &function);
    if (status)
      break;
    if (kernel->role == SKV_KERNEL_COMBINE) {
      attention->combine_kernel = kernel;
      attention->combine_function = function;
      launches->combine_threads = (int)kernel->threads;
    } else {
      /* The package verifier allows at most SKV_MAX_KERNELS - 2 split
       * kernels beside the combine and balanced ones. */
      int at = kernel->role == SKV_KERNEL_SPLIT ? launches->count++ : SKV_BALANCED_LAUNCH;
      attention->split_kernels[at] = kernel;
      attention->split_functions[at] = function;
      skv_device_fill *fill = &launches->fills[at];
      fill->sms = sm_count;
      fill->split_threads = (int)kernel->threads;
      fill->cta_tokens = (int)kernel->tokens_per_step;
      /* The split heuristic fills the device in one wave: how many CTAs of
       * each launch one SM holds (registers, shared memory) decides it. */
      int per_sm = 0;
      status = SKV_CU_CALL(cuOccupancyMaxActiveBlocksPerMultiprocessor, &per_sm, function,
                           fill->split_threads, kernel->dynamic_smem_bytes);
      fill->ctas_per_sm = per_sm > 0 ? per_sm : 1;
    }
  }
  /* With programmatic dependent launch the combine CTAs wait beside the
   * split CTAs, in the registers these leave; and long calls have the
   * combine kernel trigger late. */
  if (!status && attention->image.sm >= SKV_GRID_DEPENDENCY_SM)
    status = fill_grid_dependency(attention, device);
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
  int fill = 0, balanced = 0;
  return skv_partition_choose(attention->spec, &attention->launches, batch,
                              (int)attention->spec->max_query_len, max_seqlen,
                              num_splits_override, &fill, out_num_splits, &balanced);
}

skv_status skv_attention_balanced(const skv_attention *attention, int batch, int max_seqlen,
                                  int num_splits_override, int *out_balanced) {
  int fill = 0, splits = 0;
  return skv_partition_choose(attention->spec, &attention->launches, batch,
                              (int)attention->spec->max_query_len, max_seqlen,
                              num_splits_override, &fill, &splits, out_balanced);
}

skv_status skv_attention_split_threads(const skv_attention *attention, int batch,
                                       int max_seqlen, int num_splits_override,
                                       int *out_threads) {
  int fill = 0, splits = 0, balanced = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_partition_choose(attention->spec, &attention->launches, batch,
                                                 (int)attention->spec->max_query_len,
                                                 max_seqlen, num_splits_override, &fill,
                                                 &splits, &balanced));
  *out_threads = attention->launches.fills[fill].split_threads;
  return SKV_OK;
}

skv_status skv_attention_workspace_size(const skv_attention *attention,
                                        int batch, int max_seqlen,
                                        int num_splits_override,
                                        size_t *out_bytes) {
  return skv_workspace_most(attention->spec, &attention->launches, batch, max_seqlen,
                            num_splits_override, out_bytes);
}

