/* A stub CUDA driver for the runtime's CPU tests: built as libcuda.so.1 in
 * a directory of its own, which a test puts first on LD_LIBRARY_PATH, so
 * that the real runtime (cuda_driver.c's dlopen, load.c, launch.c) runs
 * against it without a GPU. It implements the entry points the runtime
 * requires (SKV_CUDA_DRIVER_FUNCTIONS) for one sm_90 device with H100-like
 * attributes; modules are heap objects, so a module unloaded twice or never
 * shows under AddressSanitizer; launches only record what they were asked
 * (device pointers are never read, except by cuMemcpyDtoH, which takes
 * them as host pointers). skv_stub_* report what happened to the test. */
#include <cuda.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STUB_API __attribute__((visibility("default")))

/* A function handle: the entry name looked up. */
typedef struct stub_function {
  char name[128];
} stub_function;

/* A module: the functions looked up in it. */
typedef struct stub_module {
  stub_function functions[16];
  int count;
} stub_module;

static int stub_context_object;
static CUcontext stub_current;
static int stub_modules_live;
static int stub_launches;
static char stub_last_name[128];
static unsigned stub_last_grid[3];

/* ---- what the test reads back ---- */

STUB_API int skv_stub_modules_live(void) { return stub_modules_live; }
STUB_API int skv_stub_launches(void) { return stub_launches; }
STUB_API const char *skv_stub_last_launch(unsigned grid[3]) {
  memcpy(grid, stub_last_grid, sizeof(stub_last_grid));
  return stub_last_name;
}

/* ---- the driver ---- */

CUresult CUDAAPI cuGetErrorName(CUresult error, const char **pStr) {
  *pStr = error == CUDA_SUCCESS ? "CUDA_SUCCESS" : "CUDA_ERROR_STUB";
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr) {
  *pStr = error == CUDA_SUCCESS ? "no error" : "stub driver error";
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuInit(unsigned int flags) {
  (void)flags;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int *count) {
  *count = 1;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal) {
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *device = 0;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
  (void)dev;
  switch (attrib) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *pi = 9; break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *pi = 0; break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *pi = 132; break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *pi = 232448; break;
  case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR: *pi = 65536; break;
  case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: *pi = 2619000; break;
  case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: *pi = 5120; break;
  default: *pi = 0; break;
  }
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev) {
  (void)dev;
  strncpy(name, "stub sm_90 device", (size_t)len);
  name[len - 1] = '\0';
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
  (void)dev;
  *pctx = (CUcontext)&stub_context_object;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice dev) {
  (void)dev;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *pctx) {
  *pctx = stub_current;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx) {
  stub_current = ctx;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *device) {
  *device = 0;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image,
                                    unsigned int numOptions, CUjit_option *options,
                                    void **optionValues) {
  (void)numOptions;
  (void)options;
  (void)optionValues;
  if (!image)
    return CUDA_ERROR_INVALID_IMAGE;
  stub_module *m = calloc(1, sizeof(*m));
  if (!m)
    return CUDA_ERROR_OUT_OF_MEMORY;
  ++stub_modules_live;
  *module = (CUmodule)m;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule hmod) {
  free(hmod);
  --stub_modules_live;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
  stub_module *m = (stub_module *)hmod;
  if (m->count == (int)(sizeof(m->functions) / sizeof(m->functions[0])))
    return CUDA_ERROR_OUT_OF_MEMORY;
  stub_function *f = &m->functions[m->count++];
  strncpy(f->name, name, sizeof(f->name) - 1);
  *hfunc = (CUfunction)f;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc) {
  (void)hfunc;
  switch (attrib) {
  case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = 1024; break;
  case CU_FUNC_ATTRIBUTE_NUM_REGS: *pi = 64; break;
  default: *pi = 0; break;
  }
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  (void)hfunc;
  (void)attrib;
  (void)value;
  return CUDA_SUCCESS;
}

static void record_launch(CUfunction f, unsigned x, unsigned y, unsigned z) {
  ++stub_launches;
  strcpy(stub_last_name, ((stub_function *)f)->name);
  stub_last_grid[0] = x;
  stub_last_grid[1] = y;
  stub_last_grid[2] = z;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                unsigned int gridDimZ, unsigned int blockDimX,
                                unsigned int blockDimY, unsigned int blockDimZ,
                                unsigned int sharedMemBytes, CUstream hStream,
                                void **kernelParams, void **extra) {
  (void)blockDimX, (void)blockDimY, (void)blockDimZ, (void)sharedMemBytes;
  (void)hStream, (void)kernelParams, (void)extra;
  record_launch(f, gridDimX, gridDimY, gridDimZ);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f,
                                  void **kernelParams, void **extra) {
  (void)kernelParams;
  (void)extra;
  record_launch(f, config->gridDimX, config->gridDimY, config->gridDimZ);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func,
                                                             int blockSize,
                                                             size_t dynamicSMemSize) {
  (void)func;
  (void)dynamicSMemSize;
  *numBlocks = blockSize <= 128 ? 4 : 2;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  (void)hStream;
  *captureStatus = CU_STREAM_CAPTURE_STATUS_NONE;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream hStream) {
  (void)hStream;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoH(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
  memcpy(dstHost, (const void *)(uintptr_t)srcDevice, ByteCount);
  return CUDA_SUCCESS;
}
