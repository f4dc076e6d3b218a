/* The fields of a spec that reach the kernels and the package, written
 * once. The spec parser reads each key by its type, the compiler's skv_spec
 * and the package's skv_pkg_spec hold each as a member of the same name,
 * the package record stores each under its id, the verifier checks it and
 * splitkv-inspect shows it, all by expanding SKV_SPEC_FIELDS.
 *
 * A row: X(member, id, type, min, max, fallback)
 *   member    the YAML key and the struct member
 *   id        the field's number in a package record (1..255; never reused)
 *   type      SKV_FIELD_<type>_* below: how the value is read, stored in
 *             32 bits, checked and shown
 *   min, max  the range of an integer (COUNT, SPLITS); 0 for other types
 *   fallback  the value a spec that leaves the key out gets, or
 *             SKV_FIELD_REQUIRED (the spec must give it), or
 *             SKV_FIELD_DERIVED (the parser computes it from other keys:
 *             the head counts from gqa_ratio, softmax_scale from head_dim)
 *
 * Adding a field: a row here, its reference semantics (lib/reference), the
 * generator step that uses it; the parser, the package, the verifier and
 * inspect follow from the row. A new type needs its five macros and its
 * reader (lib/spec/spec.c) and checks (runtime/src/spec_fields.c).
 *
 * A contract between the compiler and the runtime, private to the build. */
#ifndef SPLITKV_SPEC_FIELDS_H
#define SPLITKV_SPEC_FIELDS_H

#include <stdint.h>

#include "splitkv/status.h"
#include "splitkv/target.h"
#include "splitkv/types.h"

#define SKV_SPEC_FIELDS(X)                                                     \
  X(head_dim, 1, HEAD_DIM, 0, 0, SKV_FIELD_REQUIRED)                           \
  X(num_q_heads, 2, COUNT, 1, SKV_MAX_HEADS, SKV_FIELD_DERIVED)                \
  X(num_kv_heads, 3, COUNT, 1, SKV_MAX_HEADS, SKV_FIELD_DERIVED)               \
  X(dtype, 4, DTYPE, 0, 0, SKV_FIELD_REQUIRED)                                 \
  X(kv_layout, 5, KV_LAYOUT, 0, 0, SKV_KV_CONTIGUOUS)                          \
  X(splits, 6, SPLITS, 1, SKV_MAX_SPLITS, 0)                                   \
  X(softmax_scale, 7, SCALE, 0, 0, SKV_FIELD_DERIVED)                          \
  X(page_size, 8, PAGE_SIZE, 1, SKV_MAX_PAGE_SIZE, 0)                         \
  X(logit_softcap, 9, CAP, 0, 0, 0)                                            \
  X(sliding_window, 10, WINDOW, 1, SKV_MAX_WINDOW, 0)                         \
  X(max_query_len, 11, COUNT, 1, SKV_MAX_QUERY_LEN, 1)

/* The most q heads (and kv heads) a spec may have, and tokens per page. */
#define SKV_MAX_HEADS 1024
/* The most elements of one token's K (or V), num_kv_heads x head_dim. The
 * runtime sizes a call's cache as 2 (K and V) x batch (< 2^16) x max_seqlen
 * (< 2^31) x these x 2 bytes in int64, below 2^63 up to 2^14 of them; q
 * heads are this times the GQA group at most, and their sizes (x batch x
 * splits) stay far below. */
#define SKV_MAX_KV_ROW_ELEMS 16384
#define SKV_MAX_PAGE_SIZE 256
/* The longest sliding window, in tokens (2^30: lengths and their sums stay
 * in i32 in the kernels). */
#define SKV_MAX_WINDOW (1 << 30)

/* Fallbacks that are not values (no field stores these bit patterns). */
#define SKV_FIELD_REQUIRED (-1)
#define SKV_FIELD_DERIVED (-2)

/* The head dims the generator builds: X(head_dim). */
#define SKV_HEAD_DIMS(X)                                                        \
  X(64) X(80) X(96) X(112) X(128) X(144) X(160) X(176) X(192) X(208) X(224)    \
  X(240) X(256) X(512)

/* The types. Each has
 *   SKV_FIELD_<type>_CTYPE  the member's C type
 *   SKV_FIELD_<type>_BITS   value -> the record's 32 bits
 *   SKV_FIELD_<type>_VALUE  the record's 32 bits -> value
 * and, in runtime/src/spec_fields.c, skv_field_check_<type> and
 * skv_field_show_<type>; in lib/spec/spec.c, a reader.
 *   COUNT      an integer in [min, max]
 *   HEAD_DIM   one of SKV_HEAD_DIMS
 *   SPLITS     'auto' (0: the runtime picks per call) or an integer in
 *              [min, max]
 *   DTYPE      a word of SKV_DTYPES (types.h)
 *   KV_LAYOUT  a word of SKV_KV_LAYOUTS (types.h)
 *   SCALE      a finite float > 0
 *   PAGE_SIZE  0 (no pages: kv_layout contiguous) or, with kv_layout
 *              paged, the tokens per page, an integer in [min, max]
 *   CAP        'none' (0) or a finite float > 0
 *   WINDOW     'none' (0: every token) or an integer in [min, max] */
#define SKV_FIELD_COUNT_CTYPE int
#define SKV_FIELD_HEAD_DIM_CTYPE int
#define SKV_FIELD_SPLITS_CTYPE int
#define SKV_FIELD_DTYPE_CTYPE skv_dtype
#define SKV_FIELD_KV_LAYOUT_CTYPE skv_kv_layout
#define SKV_FIELD_SCALE_CTYPE float
#define SKV_FIELD_PAGE_SIZE_CTYPE int
#define SKV_FIELD_CAP_CTYPE float
#define SKV_FIELD_WINDOW_CTYPE int

#define SKV_FIELD_COUNT_BITS(v) ((uint32_t)(v))
#define SKV_FIELD_HEAD_DIM_BITS(v) ((uint32_t)(v))
#define SKV_FIELD_SPLITS_BITS(v) ((uint32_t)(v))
#define SKV_FIELD_DTYPE_BITS(v) ((uint32_t)(v))
#define SKV_FIELD_KV_LAYOUT_BITS(v) ((uint32_t)(v))
#define SKV_FIELD_SCALE_BITS(v) skv_field_f32_bits(v)
#define SKV_FIELD_PAGE_SIZE_BITS(v) ((uint32_t)(v))
#define SKV_FIELD_CAP_BITS(v) skv_field_f32_bits(v)
#define SKV_FIELD_WINDOW_BITS(v) ((uint32_t)(v))

#define SKV_FIELD_COUNT_VALUE(b) ((int)(int32_t)(b))
#define SKV_FIELD_HEAD_DIM_VALUE(b) ((int)(int32_t)(b))
#define SKV_FIELD_SPLITS_VALUE(b) ((int)(int32_t)(b))
#define SKV_FIELD_DTYPE_VALUE(b) ((skv_dtype)(int32_t)(b))
#define SKV_FIELD_KV_LAYOUT_VALUE(b) ((skv_kv_layout)(int32_t)(b))
#define SKV_FIELD_SCALE_VALUE(b) skv_field_f32_value(b)
#define SKV_FIELD_PAGE_SIZE_VALUE(b) ((int)(int32_t)(b))
#define SKV_FIELD_CAP_VALUE(b) skv_field_f32_value(b)
#define SKV_FIELD_WINDOW_VALUE(b) ((int)(int32_t)(b))

/* The members of a struct holding a spec's fields (skv_spec, skv_pkg_spec):
 * `SKV_SPEC_FIELDS(SKV_SPEC_FIELD_MEMBER)` inside its definition. */
#define SKV_SPEC_FIELD_MEMBER(member, id, type, min, max, fallback)            \
  SKV_FIELD_##type##_CTYPE member;

/* The fields by id, for loops over them. */
typedef enum skv_field_id {
#define SKV_SPEC_FIELD_ID(member, id, type, min, max, fallback) SKV_FIELD_ID_##member = id,
  SKV_SPEC_FIELDS(SKV_SPEC_FIELD_ID)
#undef SKV_SPEC_FIELD_ID
} skv_field_id;

/* How many fields SKV_SPEC_FIELDS has. */
#define SKV_SPEC_FIELD_ONE(member, id, type, min, max, fallback) +1
#define SKV_SPEC_FIELD_COUNT (0 SKV_SPEC_FIELDS(SKV_SPEC_FIELD_ONE))

uint32_t skv_field_f32_bits(float value);
float skv_field_f32_value(uint32_t bits);

/* Each type's check of a value: OK, or INVALID_ARGUMENT saying what is
 * wrong with it as "<key> <value> is ..." (the caller adds where). */
skv_status skv_field_check_COUNT(const char *key, int value, int min, int max);
skv_status skv_field_check_HEAD_DIM(const char *key, int value, int min, int max);
skv_status skv_field_check_SPLITS(const char *key, int value, int min, int max);
skv_status skv_field_check_DTYPE(const char *key, skv_dtype value, int min, int max);
skv_status skv_field_check_KV_LAYOUT(const char *key, skv_kv_layout value, int min,
                                     int max);
skv_status skv_field_check_SCALE(const char *key, float value, int min, int max);
skv_status skv_field_check_PAGE_SIZE(const char *key, int value, int min, int max);
skv_status skv_field_check_CAP(const char *key, float value, int min, int max);
skv_status skv_field_check_WINDOW(const char *key, int value, int min, int max);

/* Each type's text form of a value into out (size bytes): as a spec writes
 * it ("bf16", "auto", "0.0883883"), or with json set as a JSON value
 * (words quoted, floats to 9 digits). */
void skv_field_show_COUNT(int value, int json, char *out, int size);
void skv_field_show_HEAD_DIM(int value, int json, char *out, int size);
void skv_field_show_SPLITS(int value, int json, char *out, int size);
void skv_field_show_DTYPE(skv_dtype value, int json, char *out, int size);
void skv_field_show_KV_LAYOUT(skv_kv_layout value, int json, char *out, int size);
void skv_field_show_SCALE(float value, int json, char *out, int size);
void skv_field_show_PAGE_SIZE(int value, int json, char *out, int size);
void skv_field_show_CAP(float value, int json, char *out, int size);
void skv_field_show_WINDOW(int value, int json, char *out, int size);

/* The combinations of fields a valid spec keeps, each field's own range
 * aside: num_kv_heads divides num_q_heads; a paged cache has a page_size,
 * a contiguous one none. INVALID_ARGUMENT saying which is broken. (The
 * parser checks the same with the keys' positions.) */
skv_status skv_fields_check_combination(int num_q_heads, int num_kv_heads,
                                        skv_kv_layout kv_layout, int page_size);

#endif /* SPLITKV_SPEC_FIELDS_H */
