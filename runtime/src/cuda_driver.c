/* Loads the CUDA driver with dlopen, once per process, into the one table
 * of entry points (cuda_driver.h). */
#include "splitkv/cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "splitkv/runtime.h"

#define SKV_CUDA_LIBRARY "libcuda.so.1"

/* Stringify after expansion, so versioned names give versioned symbols. */
#define SKV_STR_(x) #x
#define SKV_STR(x) SKV_STR_(x)

skv_cuda_driver skv_cu;

/* The opened library, for skv_driver_entry_point; NULL until then. */
static void *skv_driver_library;

/* The outcome of the one initialisation, replayed to every later caller as
 * a fresh status (each caller owns and frees its own). */
static pthread_once_t skv_driver_once = PTHREAD_ONCE_INIT;
static skv_status_code skv_driver_code = SKV_CODE_OK;
static char skv_driver_message[512];

static void driver_fail(skv_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void driver_fail(skv_status_code code, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(skv_driver_message, sizeof(skv_driver_message), fmt, args);
  va_end(args);
  skv_driver_code = code;
}

/* "CUDA_ERROR_X (explanation)" for a result, into buf. */
static void describe_result(CUresult result, char *buf, size_t size) {
  const char *name = NULL;
  const char *text = NULL;
  if (skv_cu.cuGetErrorName)
    skv_cu.cuGetErrorName(result, &name);
  if (skv_cu.cuGetErrorString)
    skv_cu.cuGetErrorString(result, &text);
  if (name && text)
    snprintf(buf, size, "%s (%s)", name, text);
  else
    snprintf(buf, size, "CUresult %d", (int)result);
}

/* name without its "_vN" suffix, looked up; NULL when it has none. */
static void *unversioned_lookup(void *library, const char *name) {
  char plain[128];
  const char *suffix = strstr(name, "_v");
  if (!suffix || (size_t)(suffix - name) >= sizeof(plain))
    return NULL;
  memcpy(plain, name, (size_t)(suffix - name));
  plain[suffix - name] = '\0';
  return dlsym(library, plain);
}

static void driver_load(void) {
  void *library = dlopen(SKV_CUDA_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    driver_fail(SKV_CODE_NO_DRIVER,
                "CUDA driver library " SKV_CUDA_LIBRARY " not found (dlerror: "
                "%s); is the NVIDIA driver installed?",
                dlerror());
    return;
  }
  const char *missing = NULL;
#define SKV_CUDA_DRIVER_LOOKUP(name)                                           \
  skv_cu.name = (__typeof__(skv_cu.name))dlsym(library, SKV_STR(name));        \
  if (!skv_cu.name && !missing)                                                \
    missing = SKV_STR(name);
  SKV_CUDA_DRIVER_FUNCTIONS(SKV_CUDA_DRIVER_LOOKUP)
#undef SKV_CUDA_DRIVER_LOOKUP
  if (missing) {
    driver_fail(SKV_CODE_NO_DRIVER,
                "CUDA driver library " SKV_CUDA_LIBRARY " has no entry point "
                "%s (driver too old?)",
                missing);
    goto fail;
  }
  /* The tools' entry points; a versioned one the driver lacks falls back to
   * its unversioned name (NULL if neither exists). */
#define SKV_CUDA_TOOL_LOOKUP(name)                                             \
  skv_cu.name = (__typeof__(skv_cu.name))dlsym(library, SKV_STR(name));        \
  if (!skv_cu.name)                                                            \
    skv_cu.name = (__typeof__(skv_cu.name))unversioned_lookup(library, SKV_STR(name));
  SKV_CUDA_TOOL_FUNCTIONS(SKV_CUDA_TOOL_LOOKUP)
#undef SKV_CUDA_TOOL_LOOKUP

  char what[256];
  CUresult result = skv_cu.cuInit(0);
  if (result == CUDA_ERROR_NO_DEVICE) {
    describe_result(result, what, sizeof(what));
    driver_fail(SKV_CODE_NO_DRIVER, "no CUDA device (cuInit: %s)", what);
    goto fail;
  }
  if (result != CUDA_SUCCESS) {
    describe_result(result, what, sizeof(what));
    driver_fail(SKV_CODE_NO_DRIVER, "the CUDA driver failed to start (cuInit: "
                "%s)", what);
    goto fail;
  }
  int count = 0;
  result = skv_cu.cuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS || count == 0) {
    describe_result(result, what, sizeof(what));
    driver_fail(SKV_CODE_NO_DRIVER, "no CUDA device (cuDeviceGetCount: %s, "
                "%d devices)", what, count);
    goto fail;
  }
  skv_driver_library = library;
  return;

fail:
  /* Nothing may call through a half-filled table. */
  memset(&skv_cu, 0, sizeof(skv_cu));
  dlclose(library);
}

skv_status skv_driver_init(void) {
  pthread_once(&skv_driver_once, driver_load);
  if (skv_driver_code != SKV_CODE_OK)
    return SKV_ERROR(skv_driver_code, "%s", skv_driver_message);
  return SKV_OK;
}

skv_status skv_cuda_status(CUresult result, const char *call, const char *file,
                           int line) {
  if (result == CUDA_SUCCESS)
    return SKV_OK;
  char what[256];
  describe_result(result, what, sizeof(what));
  return skv_status_make(SKV_CODE_CUDA_ERROR, file, line, "%s: %s", call, what);
}

skv_status skv_driver_entry_point(const char *symbol, void **out_function) {
  if (!symbol || !out_function)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, "%s is NULL",
                     !symbol ? "symbol" : "out_function");
  SKV_RETURN_IF_ERROR_PLAIN(skv_driver_init());
  void *function = dlsym(skv_driver_library, symbol);
  if (!function)
    return SKV_ERROR(SKV_CODE_NOT_FOUND,
                     "the CUDA driver (" SKV_CUDA_LIBRARY ") has no entry point %s", symbol);
  *out_function = function;
  return SKV_OK;
}

const char *skv_cuda_tool_missing(void) {
#define SKV_CUDA_TOOL_CHECK(name)                                              \
  if (!skv_cu.name)                                                            \
    return SKV_STR(name);
  SKV_CUDA_TOOL_FUNCTIONS(SKV_CUDA_TOOL_CHECK)
#undef SKV_CUDA_TOOL_CHECK
  return NULL;
}
