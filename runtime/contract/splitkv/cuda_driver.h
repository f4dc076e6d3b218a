/* The CUDA driver, reached through one table of entry points that
 * skv_driver_init fills with dlopen/dlsym (runtime/src/cuda_driver.c): the
 * runtime has no link-time dependency on libcuda and reports a missing
 * driver as a status. The build's GPU tools and tests (lib/testing) call
 * the driver through the same table; an engine outside the build asks for
 * entry points with skv_driver_entry_point (runtime.h).
 *
 * Private to the build: not installed, not exported from the shared
 * library. */
#ifndef SPLITKV_CUDA_DRIVER_H
#define SPLITKV_CUDA_DRIVER_H

#include <cuda.h>

#include "splitkv/status.h"

/* The entry points, X(name). The table field, the prototype and the symbol
 * looked up all come from the name as cuda.h spells it: where cuda.h maps a
 * name to a versioned symbol (cuMemAlloc -> cuMemAlloc_v2), the macro
 * expansion gives the matching prototype and symbol together.
 *
 * Those the runtime calls: skv_driver_init fails (NO_DRIVER) without any of
 * them. */
#define SKV_CUDA_DRIVER_FUNCTIONS(X)                                           \
  X(cuGetErrorName)                                                            \
  X(cuGetErrorString)                                                          \
  X(cuInit)                                                                    \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDeviceGetName)                                                           \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuDevicePrimaryCtxRelease)                                                 \
  X(cuCtxGetCurrent)                                                           \
  X(cuCtxSetCurrent)                                                           \
  X(cuCtxGetDevice)                                                            \
  X(cuModuleLoadDataEx)                                                        \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuFuncGetAttribute)                                                        \
  X(cuFuncSetAttribute)                                                        \
  X(cuLaunchKernel)                                                            \
  X(cuLaunchKernelEx)                                                          \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor)                               \
  X(cuStreamIsCapturing)                                                       \
  X(cuStreamSynchronize)                                                       \
  X(cuMemcpyDtoH)

/* Those the GPU tools and tests call besides (memory, copies, streams,
 * events, graphs): looked up too, NULL where the driver lacks one (a
 * versioned symbol missing falls back to its unversioned name, as
 * cuEventElapsedTime_v2, CUDA 12.8's, to cuEventElapsedTime). */
#define SKV_CUDA_TOOL_FUNCTIONS(X)                                             \
  X(cuDriverGetVersion)                                                        \
  X(cuDeviceTotalMem)                                                          \
  X(cuCtxSynchronize)                                                          \
  X(cuMemGetInfo)                                                              \
  X(cuMemAlloc)                                                                \
  X(cuMemFree)                                                                 \
  X(cuMemcpyHtoD)                                                              \
  X(cuMemcpyDtoD)                                                              \
  X(cuMemcpyDtoDAsync)                                                         \
  X(cuMemsetD8)                                                                \
  X(cuStreamCreate)                                                            \
  X(cuStreamDestroy)                                                           \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy)                                                            \
  X(cuEventRecord)                                                             \
  X(cuEventSynchronize)                                                        \
  X(cuEventElapsedTime)                                                        \
  X(cuStreamBeginCapture)                                                      \
  X(cuStreamEndCapture)                                                        \
  X(cuGraphInstantiate)                                                        \
  X(cuGraphLaunch)                                                             \
  X(cuGraphExecDestroy)                                                        \
  X(cuGraphDestroy)

typedef struct skv_cuda_driver {
#define SKV_CUDA_DRIVER_FIELD(name) __typeof__(&name) name;
  SKV_CUDA_DRIVER_FUNCTIONS(SKV_CUDA_DRIVER_FIELD)
  SKV_CUDA_TOOL_FUNCTIONS(SKV_CUDA_DRIVER_FIELD)
#undef SKV_CUDA_DRIVER_FIELD
} skv_cuda_driver;

/* The table; every SKV_CUDA_DRIVER_FUNCTIONS entry is valid once
 * skv_driver_init has returned OK. */
extern skv_cuda_driver skv_cu;

/* The first SKV_CUDA_TOOL_FUNCTIONS entry the driver lacks, NULL when it
 * has them all (after skv_driver_init returned OK). */
const char *skv_cuda_tool_missing(void);

/* Turns a failed driver call into CUDA_ERROR "call: CUDA_ERROR_X (string)";
 * OK for CUDA_SUCCESS. call names what failed ("cuModuleLoadDataEx"). */
skv_status skv_cuda_status(CUresult result, const char *call, const char *file,
                           int line);

/* Calls a driver entry point through the table and returns its failure from
 * the calling function as a status naming the call. */
#define SKV_CU_RETURN_IF_ERROR(fn, ...)                                        \
  SKV_RETURN_IF_ERROR_PLAIN(                                                   \
      skv_cuda_status(skv_cu.fn(__VA_ARGS__), #fn, __FILE__, __LINE__))

/* The same as a status expression, for code that unwinds on failure. */
#define SKV_CU_CALL(fn, ...)                                                   \
  skv_cuda_status(skv_cu.fn(__VA_ARGS__), #fn, __FILE__, __LINE__)

#endif /* SPLITKV_CUDA_DRIVER_H */
