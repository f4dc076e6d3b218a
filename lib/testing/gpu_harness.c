/* The GPU harness's driver table and host helpers (see gpu_harness.h). */
/* clock_gettime and sysconf are POSIX, hidden by -std=c11 otherwise. */
#define _POSIX_C_SOURCE 200809L

#include "gpu_harness.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void skv_gpu_describe(const skv_gpu *gpu, CUresult result, char *buf,
                             size_t size) {
  const char *name = NULL;
  const char *text = NULL;
  gpu->cu->cuGetErrorName(result, &name);
  gpu->cu->cuGetErrorString(result, &text);
  if (name && text)
    snprintf(buf, size, "%s (%s)", name, text);
  else
    snprintf(buf, size, "CUresult %d", (int)result);
}

skv_status skv_gpu_status(const skv_gpu *gpu, CUresult result,
                          const char *call, const char *file, int line) {
  if (result == CUDA_SUCCESS)
    return SKV_OK;
  char what[256];
  skv_gpu_describe(gpu, result, what, sizeof what);
  return skv_status_make(SKV_CODE_CUDA_ERROR, file, line, "%s: %s", call, what);
}

skv_status skv_gpu_open(skv_gpu *gpu) {
  memset(gpu, 0, sizeof *gpu);
  SKV_RETURN_IF_ERROR_PLAIN(skv_driver_init());
  const char *missing = skv_cuda_tool_missing();
  if (missing)
    return SKV_ERROR(SKV_CODE_NO_DRIVER,
                     "the CUDA driver has no entry point %s (driver too old?)", missing);
  gpu->cu = &skv_cu;
  skv_status status = SKV_OK;
  int count = 0;
  CUresult result = gpu->cu->cuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS || count == 0) {
    char what[256];
    skv_gpu_describe(gpu, result, what, sizeof what);
    status = SKV_ERROR(SKV_CODE_NO_DRIVER, "no CUDA device (cuDeviceGetCount: %s, %d devices)",
                       what, count);
  }
#define SKV_GPU_STEP(fn, ...)                                                  \
  if (!status)                                                                 \
  status = skv_gpu_status(gpu, gpu->cu->fn(__VA_ARGS__), #fn, __FILE__, __LINE__)
  SKV_GPU_STEP(cuDriverGetVersion, &gpu->driver_version);
  SKV_GPU_STEP(cuDeviceGet, &gpu->device, 0);
  SKV_GPU_STEP(cuDeviceGetName, gpu->name, (int)sizeof gpu->name, gpu->device);
  SKV_GPU_STEP(cuDeviceGetAttribute, &gpu->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
               gpu->device);
  SKV_GPU_STEP(cuDeviceGetAttribute, &gpu->cc_major,
               CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, gpu->device);
  SKV_GPU_STEP(cuDeviceGetAttribute, &gpu->cc_minor,
               CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, gpu->device);
  SKV_GPU_STEP(cuDeviceTotalMem, &gpu->total_memory, gpu->device);
  SKV_GPU_STEP(cuDevicePrimaryCtxRetain, &gpu->context, gpu->device);
  if (!status && gpu->context) {
    status = skv_gpu_status(gpu, gpu->cu->cuCtxSetCurrent(gpu->context), "cuCtxSetCurrent",
                            __FILE__, __LINE__);
    if (status)
      gpu->cu->cuDevicePrimaryCtxRelease(gpu->device);
  }
#undef SKV_GPU_STEP
  if (status)
    memset(gpu, 0, sizeof *gpu);
  return status;
}

void skv_gpu_close(skv_gpu *gpu) {
  if (!gpu->cu)
    return;
  if (gpu->context) {
    gpu->cu->cuCtxSetCurrent(NULL);
    gpu->cu->cuDevicePrimaryCtxRelease(gpu->device);
  }
  memset(gpu, 0, sizeof *gpu);
}

skv_status skv_gpu_capture(const skv_gpu *gpu, CUstream stream,
                           skv_status (*enqueue)(void *ctx, CUstream stream), void *ctx,
                           CUgraph *graph, CUgraphExec *exec) {
  *graph = NULL;
  *exec = NULL;
  SKV_GPU_RETURN_IF_ERROR(gpu, cuStreamBeginCapture, stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  skv_status status = enqueue(ctx, stream);
  skv_status end = skv_gpu_status(gpu, gpu->cu->cuStreamEndCapture(stream, graph),
                                  "cuStreamEndCapture", __FILE__, __LINE__);
  if (status) {
    skv_status_free(end);
    return status;
  }
  SKV_RETURN_IF_ERROR_PLAIN(end);
  SKV_GPU_RETURN_IF_ERROR(gpu, cuGraphInstantiate, exec, *graph, 0);
  return SKV_OK;
}

/* ---- host helpers ------------------------------------------------------------ */

typedef struct skv_parallel_job {
  void (*fn)(void *ctx, int i);
  void *ctx;
  int n;
  int next;             /* next index to hand out, under lock */
  pthread_mutex_t lock;
} skv_parallel_job;

/* Items are handed out one at a time: their costs differ a lot (ragged
 * sequence lengths), so a static split would leave threads idle. */
static void *skv_parallel_worker(void *arg) {
  skv_parallel_job *job = arg;
  for (;;) {
    pthread_mutex_lock(&job->lock);
    int i = job->next++;
    pthread_mutex_unlock(&job->lock);
    if (i >= job->n)
      return NULL;
    job->fn(job->ctx, i);
  }
}

#define SKV_PARALLEL_MAX_THREADS 64

void skv_parallel_for(int n, void (*fn)(void *ctx, int i), void *ctx) {
  skv_parallel_job job = {fn, ctx, n, 0, PTHREAD_MUTEX_INITIALIZER};
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = cpus < 1 ? 1 : cpus > SKV_PARALLEL_MAX_THREADS
                                   ? SKV_PARALLEL_MAX_THREADS
                                   : (int)cpus;
  if (threads > n)
    threads = n;
  pthread_t ids[SKV_PARALLEL_MAX_THREADS];
  int started = 0;
  /* The calling thread works too; threads that fail to start just leave
   * more items to the others. */
  for (int t = 1; t < threads; ++t)
    if (pthread_create(&ids[started], NULL, skv_parallel_worker, &job) == 0)
      ++started;
  skv_parallel_worker(&job);
  for (int t = 0; t < started; ++t)
    pthread_join(ids[t], NULL);
  pthread_mutex_destroy(&job.lock);
}

uint64_t skv_seed_mix(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double skv_host_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
