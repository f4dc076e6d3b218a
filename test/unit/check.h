/* The checks every unit test uses. A failed check prints where and what and
 * is counted in `failures`; each test's main returns non-zero when any
 * failed, so one run reports every failure, not just the first. */
#ifndef SPLITKV_TEST_UNIT_CHECK_H
#define SPLITKV_TEST_UNIT_CHECK_H

#include <stdio.h>
#include <string.h>

#include "splitkv/status.h"

static int failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* CHECK with a printf-style explanation. */
#define CHECK_MSG(cond, ...)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Fails the test unless status is OK; frees it. */
#define CHECK_OK(expr)                                                         \
  do {                                                                         \
    skv_status s_ = (expr);                                                    \
    if (s_) {                                                                  \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,     \
              skv_status_message(s_));                                         \
      ++failures;                                                              \
      skv_status_free(s_);                                                     \
    }                                                                          \
  } while (0)

/* Checks a failure's code and that its message contains text; frees it. */
static inline void check_error(skv_status status, skv_status_code code,
                               const char *text, int line) {
  if (!status) {
    fprintf(stderr, "line %d: expected %s \"%s\", got OK\n", line,
            skv_status_code_name(code), text);
    ++failures;
    return;
  }
  printf("  -> %s: %s\n", skv_status_code_name(skv_status_code_of(status)),
         skv_status_message(status));
  if (skv_status_code_of(status) != code ||
      !strstr(skv_status_message(status), text)) {
    fprintf(stderr, "line %d: expected %s containing \"%s\"\n", line,
            skv_status_code_name(code), text);
    ++failures;
  }
  skv_status_free(status);
}
#define CHECK_ERROR(expr, code, text) check_error((expr), (code), (text), __LINE__)

#endif /* SPLITKV_TEST_UNIT_CHECK_H */
