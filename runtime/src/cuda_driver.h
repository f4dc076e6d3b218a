/* The CUDA driver, reached through a table of entry points that
 * skv_driver_init fills with dlopen/dlsym: the runtime has no link-time
 * dependency on libcuda and reports a missing driver as a status.
 *
 * Internal to the runtime. */
#ifndef SPLITKV_RUNTIME_CUDA_DRIVER_H
#define SPLITKV_RUNTIME_CUDA_DRIVER_H

#include <cuda.h>

#include "splitkv/status.h"

/* Every driver entry point the runtime calls, and nothing else. The table
 * field, the prototype and the symbol looked up all come from the name as
 * cuda.h spells it: where cuda.h maps a name to a versioned symbol
 * (cuDevicePrimaryCtxRelease -> cuDevicePrimaryCtxRelease_v2), the macro
 * expansion gives the matching prototype and symbol together. */
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
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor)

typedef struct skv_cuda_driver {
#define SKV_CUDA_DRIVER_FIELD(name) __typeof__(&name) name;
  SKV_CUDA_DRIVER_FUNCTIONS(SKV_CUDA_DRIVER_FIELD)
#undef SKV_CUDA_DRIVER_FIELD
} skv_cuda_driver;

/* The table; every entry is valid once skv_driver_init has returned OK. */
extern skv_cuda_driver skv_cu;

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

#endif /* SPLITKV_RUNTIME_CUDA_DRIVER_H */
