/* splitkv status: the one result type of every fallible call, in the runtime
 * and in the compiler alike.
 *
 * OK is NULL and costs nothing. A failure is a heap object carrying a code, a
 * printable message and the source position that made it; the caller owns it
 * and frees it with skv_status_free (or hands it on by returning it).
 * Thread safety: a status is owned by one thread at a time; the functions
 * below keep no shared state. */
#ifndef SPLITKV_STATUS_H
#define SPLITKV_STATUS_H

#include "splitkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum skv_status_code {
  SKV_CODE_OK = 0,
  SKV_CODE_INVALID_ARGUMENT, /* a caller passed a bad value */
  SKV_CODE_PARSE_ERROR,      /* a spec file is malformed or invalid */
  SKV_CODE_NOT_FOUND,        /* a file, spec or kernel does not exist */
  SKV_CODE_UNSUPPORTED,      /* valid but not implemented (yet) */
  SKV_CODE_IO_ERROR,         /* reading or writing a file failed */
  SKV_CODE_CORRUPT_PACKAGE,  /* a package failed verification */
  SKV_CODE_COMPILE_ERROR,    /* MLIR, LLVM or ptxas reported an error */
  SKV_CODE_NO_DRIVER,        /* no CUDA driver library or no device */
  SKV_CODE_CUDA_ERROR,       /* a CUDA driver call failed */
  SKV_CODE_OUT_OF_MEMORY,
  SKV_CODE_INTERNAL,
} skv_status_code;

typedef struct skv_status_impl *skv_status;

#define SKV_OK ((skv_status)0)

/* Makes a failure with a printf-style message. Never returns NULL for a code
 * other than SKV_CODE_OK: if memory runs out, a static out-of-memory status is
 * returned instead (skv_status_free ignores it). */
SKV_API skv_status skv_status_make(skv_status_code code, const char *file, int line,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SKV_ERROR(code, ...) skv_status_make((code), __FILE__, __LINE__, __VA_ARGS__)

/* Prefixes context to a failure's message ("context: message") and returns
 * the same status (ownership passes through). OK passes through unchanged. */
SKV_API skv_status skv_status_annotate(skv_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Evaluates expr; on failure returns it from the calling function with the
 * context given after it prefixed. */
#define SKV_RETURN_IF_ERROR(expr, ...)                                         \
  do {                                                                         \
    skv_status skv_status_tmp_ = (expr);                                       \
    if (skv_status_tmp_)                                                       \
      return skv_status_annotate(skv_status_tmp_, __VA_ARGS__);                \
  } while (0)

/* Evaluates expr; on failure returns it unchanged. */
#define SKV_RETURN_IF_ERROR_PLAIN(expr)                                        \
  do {                                                                         \
    skv_status skv_status_tmp_ = (expr);                                       \
    if (skv_status_tmp_)                                                       \
      return skv_status_tmp_;                                                  \
  } while (0)

/* The code of a status; SKV_CODE_OK for NULL. */
SKV_API skv_status_code skv_status_code_of(skv_status status);

/* The printable message, borrowed from the status (valid until it is freed);
 * "OK" for NULL. */
SKV_API const char *skv_status_message(skv_status status);

/* Where the failure was made (borrowed, static) and its line; "" and 0 for
 * NULL. For debugging: messages are written to make sense without them. */
SKV_API const char *skv_status_file(skv_status status);
SKV_API int skv_status_line(skv_status status);

/* The code's name ("INVALID_ARGUMENT", ...), a static string. */
SKV_API const char *skv_status_code_name(skv_status_code code);

/* Frees a status; NULL is fine. */
SKV_API void skv_status_free(skv_status status);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_STATUS_H */
