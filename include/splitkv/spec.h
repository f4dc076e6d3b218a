/* Attention specs: parse and validate YAML spec files (libyaml).
 *
 * A file holds one spec (a mapping), a sequence of specs, or several YAML
 * documents. Every error is "file:line:col: error: message", followed by the
 * offending source line and a caret under the position. */
#ifndef SPLITKV_SPEC_H
#define SPLITKV_SPEC_H

#include <stddef.h>

#include "splitkv/spec_fields.h"
#include "splitkv/status.h"
#include "splitkv/target.h"
#include "splitkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A validated spec: every field of SKV_SPEC_FIELDS (spec_fields.h: head_dim,
 * num_q_heads, num_kv_heads dividing it, dtype, kv_layout, splits with 0 for
 * auto, softmax_scale) set within its type's range, and where it came from. */
typedef struct skv_spec {
  char name[SKV_NAME_MAX]; /* [a-z0-9_]+ */
  SKV_SPEC_FIELDS(SKV_SPEC_FIELD_MEMBER)
  int targets[SKV_MAX_TARGETS]; /* sm numbers of SKV_TARGETS; distinct */
  int num_targets;          /* >= 1 */
  char file[256];           /* where the spec was written, for messages */
  int line;                 /* 1-based position of the spec's name value */
  int column;
} skv_spec;

typedef struct skv_spec_list {
  skv_spec *specs;
  int count;
} skv_spec_list;

/* Parses and validates every spec in the file at path. On success
 * *out_list is owned by the caller (skv_spec_list_destroy) and holds >= 1
 * spec with distinct names. Errors: SKV_CODE_NOT_FOUND (missing file),
 * SKV_CODE_PARSE_ERROR (anything wrong in it, with position and caret). */
skv_status skv_spec_parse_file(const char *path, skv_spec_list **out_list);

/* Same for text in memory (borrowed); file_name is used in messages. */
skv_status skv_spec_parse_string(const char *text, size_t size,
                                 const char *file_name,
                                 skv_spec_list **out_list);

void skv_spec_list_destroy(skv_spec_list *list);

/* Appends src's specs to dst (both caller-owned), rejecting a name that dst
 * already has (PARSE_ERROR naming both places as file:line:col; no source
 * line, as the files' text is gone by then). dst is unchanged on failure. */
skv_status skv_spec_list_append(skv_spec_list *dst, const skv_spec_list *src);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_SPEC_H */
