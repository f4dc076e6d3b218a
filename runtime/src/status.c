/* skv_status: heap-allocated failures; OK is NULL. */
#include "splitkv/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skv_status_impl {
  skv_status_code code;
  const char *file;
  int line;
  char *message;
};

/* Returned when a failure cannot be allocated, so callers never see NULL
 * (which would read as success). It is never freed. */
static char skv_oom_message[] = "out of memory (while reporting an error)";
static struct skv_status_impl skv_oom_status = {
    SKV_CODE_OUT_OF_MEMORY, __FILE__, __LINE__, skv_oom_message};

/* Formats into a fresh heap string; NULL if memory runs out. */
static char *skv_vformat(const char *fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int length = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (length < 0)
    return NULL;
  char *text = malloc((size_t)length + 1);
  if (!text)
    return NULL;
  vsnprintf(text, (size_t)length + 1, fmt, args);
  return text;
}

skv_status skv_status_make(skv_status_code code, const char *file, int line,
                           const char *fmt, ...) {
  if (code == SKV_CODE_OK)
    return SKV_OK;
  skv_status status = malloc(sizeof(*status));
  if (!status)
    return &skv_oom_status;
  va_list args;
  va_start(args, fmt);
  status->message = skv_vformat(fmt, args);
  va_end(args);
  if (!status->message) {
    free(status);
    return &skv_oom_status;
  }
  status->code = code;
  status->file = file;
  status->line = line;
  return status;
}

skv_status skv_status_annotate(skv_status status, const char *fmt, ...) {
  if (!status || status == &skv_oom_status)
    return status;
  va_list args;
  va_start(args, fmt);
  char *context = skv_vformat(fmt, args);
  va_end(args);
  if (!context)
    return status; /* the failure itself matters more than its context */
  size_t context_length = strlen(context);
  size_t message_length = strlen(status->message);
  char *message = malloc(context_length + 2 + message_length + 1);
  if (message) {
    memcpy(message, context, context_length);
    memcpy(message + context_length, ": ", 2);
    memcpy(message + context_length + 2, status->message, message_length + 1);
    free(status->message);
    status->message = message;
  }
  free(context);
  return status;
}

skv_status_code skv_status_code_of(skv_status status) {
  return status ? status->code : SKV_CODE_OK;
}

const char *skv_status_message(skv_status status) {
  return status ? status->message : "OK";
}

const char *skv_status_file(skv_status status) {
  return status ? status->file : "";
}

int skv_status_line(skv_status status) { return status ? status->line : 0; }

const char *skv_status_code_name(skv_status_code code) {
  switch (code) {
  case SKV_CODE_OK:
    return "OK";
  case SKV_CODE_INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case SKV_CODE_PARSE_ERROR:
    return "PARSE_ERROR";
  case SKV_CODE_NOT_FOUND:
    return "NOT_FOUND";
  case SKV_CODE_UNSUPPORTED:
    return "UNSUPPORTED";
  case SKV_CODE_IO_ERROR:
    return "IO_ERROR";
  case SKV_CODE_CORRUPT_PACKAGE:
    return "CORRUPT_PACKAGE";
  case SKV_CODE_COMPILE_ERROR:
    return "COMPILE_ERROR";
  case SKV_CODE_NO_DRIVER:
    return "NO_DRIVER";
  case SKV_CODE_CUDA_ERROR:
    return "CUDA_ERROR";
  case SKV_CODE_OUT_OF_MEMORY:
    return "OUT_OF_MEMORY";
  case SKV_CODE_INTERNAL:
    return "INTERNAL";
  }
  return "UNKNOWN";
}

void skv_status_free(skv_status status) {
  if (!status || status == &skv_oom_status)
    return;
  free(status->message);
  free(status);
}
