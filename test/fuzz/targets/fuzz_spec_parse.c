/* libFuzzer target: the spec parser on arbitrary text (not NUL-terminated,
 * as a file's bytes are not). It must give a spec list or a positioned
 * error for every input, without crashing, leaking or reading out of bounds
 * (ASan, UBSan and LeakSanitizer watch it); an accepted list must keep the
 * promises of spec.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/spec.h"

#define SKV_FUZZ_FILE "fuzz.yaml"

static void skv_fuzz_check_spec(const skv_spec *spec) {
  const char *end = memchr(spec->name, '\0', SKV_NAME_MAX);
  size_t name_length = end ? (size_t)(end - spec->name) : 0;
  if (name_length == 0 ||
      strspn(spec->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != name_length)
    abort();
  if (spec->num_q_heads < 1 || spec->num_kv_heads < 1 ||
      spec->num_q_heads % spec->num_kv_heads != 0)
    abort();
  if (spec->dtype != SKV_DTYPE_BF16 && spec->dtype != SKV_DTYPE_F16)
    abort();
  if (spec->splits < 0 || spec->num_targets < 1 ||
      spec->num_targets > SKV_MAX_TARGETS || !(spec->softmax_scale > 0.0f))
    abort();
  for (int i = 0; i < spec->num_targets; ++i)
    for (int j = 0; j < i; ++j)
      if (spec->targets[i] == spec->targets[j])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  skv_spec_list *list = NULL;
  skv_status status =
      skv_spec_parse_string((const char *)data, size, SKV_FUZZ_FILE, &list);
  if (status) {
    /* "file[:line:col]: error: message": always names the file. */
    if (strncmp(skv_status_message(status), SKV_FUZZ_FILE ":",
                strlen(SKV_FUZZ_FILE ":")) != 0)
      abort();
    skv_status_free(status);
    return 0;
  }
  if (!list || list->count < 1)
    abort();
  for (int i = 0; i < list->count; ++i) {
    skv_fuzz_check_spec(&list->specs[i]);
    for (int j = 0; j < i; ++j)
      if (strcmp(list->specs[i].name, list->specs[j].name) == 0)
        abort();
  }
  skv_spec_list_destroy(list);
  return 0;
}
