/* Spec files: YAML text -> validated skv_spec lists, through libyaml's
 * document API.
 *
 * How specs are read:
 * - Required: name, head_dim, dtype, target, and enough of num_q_heads,
 *   num_kv_heads and gqa_ratio to know both head counts (any two of them).
 *   A lone num_q_heads is an error rather than a silent multi-head default:
 *   a forgotten num_kv_heads would otherwise build the wrong kernel.
 * - Keys, their types, ranges and defaults: SKV_SPEC_FIELDS
 *   (spec_fields.h) for every key that reaches the kernels, and three keys
 *   only a source has: name, gqa_ratio (1..SKV_MAX_HEADS) and target.
 *   Defaults: kv_layout contiguous, splits auto (0: the runtime picks the
 *   count per call), softmax_scale 1/sqrt(head_dim).
 * - Integers and floats must be plain (unquoted) scalars: a quoted "128" is a
 *   string in YAML, and accepting it would hide a typing mistake; so is
 *   `!!str 128`. Names and enum words may be quoted.
 * - A document holding nothing (a lone '---' or '~') is skipped; a file with
 *   no spec at all is an error.
 * - Parsing stops at the first problem: one message, with position and caret.
 * - A spec's line and column are those of its name value: that is what a
 *   duplicate-name message points at.
 *
 * Robustness (this parser faces arbitrary input): libyaml 0.2.5 loads a
 * document without recursion, and this file only looks a fixed depth down
 * (document -> list of specs -> spec -> target list), so no input can make
 * it recurse; a first pass rejects deep nesting and more than a few
 * anchors and aliases, which libyaml handles in quadratic time, and the
 * rest is linear in the input (spec names are checked through a hash
 * table). Messages (diagnostics.h) grow in a heap buffer; values
 * echoed from the input go through a bounded, escaped excerpt, source lines
 * through a window around the mark. */
#include "splitkv/spec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "diagnostics.h"

/* ---- YAML nodes. ------------------------------------------------------------ */

static skv_excerpt skv_excerpt_of_scalar(const yaml_node_t *node) {
  return skv_excerpt_of_bytes(node->data.scalar.value,
                              node->data.scalar.length);
}

static bool skv_scalar_is(const yaml_node_t *node, const char *word) {
  size_t length = strlen(word);
  return node->type == YAML_SCALAR_NODE &&
         node->data.scalar.length == length &&
         memcmp(node->data.scalar.value, word, length) == 0;
}

/* YAML's null: an empty plain scalar (`key:` with nothing after it), `~` or
 * `null`. */
static bool skv_node_is_null(const yaml_node_t *node) {
  return node->type == YAML_SCALAR_NODE &&
         node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
         (node->data.scalar.length == 0 || skv_scalar_is(node, "~") ||
          skv_scalar_is(node, "null") || skv_scalar_is(node, "Null") ||
          skv_scalar_is(node, "NULL"));
}

/* What was found where something else was expected: "a sequence",
 * "a mapping", "'12a'" or "the quoted string '128'". */
typedef struct skv_description {
  char text[sizeof(skv_excerpt) + 32];
} skv_description;

static skv_description skv_node_describe(const yaml_node_t *node) {
  skv_description description;
  if (node->type == YAML_SEQUENCE_NODE) {
    snprintf(description.text, sizeof description.text, "a sequence");
  } else if (node->type == YAML_MAPPING_NODE) {
    snprintf(description.text, sizeof description.text, "a mapping");
  } else if (skv_node_is_null(node)) {
    snprintf(description.text, sizeof description.text, "nothing");
  } else {
    skv_excerpt value = skv_excerpt_of_scalar(node);
    bool quoted = node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    snprintf(description.text, sizeof description.text, "%s'%s'",
             quoted ? "the quoted string " : "", value.text);
  }
  return description;
}

/* ---- Positions. ------------------------------------------------------------ */

typedef struct skv_spec_context {
  skv_source source;         /* the whole text, to quote lines from */
  yaml_document_t *document; /* the document being read */
  /* The character indexes (yaml_mark_t.index) of the scalars with an
   * explicit tag, ascending (skv_spec_prescan); owned. */
  size_t *tagged;
  size_t tagged_count;
} skv_spec_context;

static skv_mark skv_mark_of(yaml_mark_t mark) {
  return (skv_mark){mark.line, mark.column};
}

/* An error at a libyaml mark (diagnostics.h's skv_source_error_at). */
#define skv_spec_error_at(ctx, mark, ...)                                      \
  skv_source_error_at(&(ctx)->source, skv_mark_of(mark), __VA_ARGS__)

/* libyaml's own errors (malformed YAML), with its position and wording. */
static skv_status skv_spec_yaml_error(const skv_spec_context *ctx,
                                      const yaml_parser_t *parser) {
  const char *problem = parser->problem ? parser->problem : "invalid YAML";
  switch (parser->error) {
  case YAML_MEMORY_ERROR:
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                     "%s: error: out of memory while parsing YAML",
                     ctx->source.file_name);
  case YAML_READER_ERROR: {
    skv_mark mark = skv_source_mark_at(&ctx->source, parser->problem_offset);
    if (parser->problem_value != -1)
      return skv_source_error_at(&ctx->source, mark, "%s (byte #x%02X)", problem,
                                 (unsigned)parser->problem_value);
    return skv_source_error_at(&ctx->source, mark, "%s", problem);
  }
  default:
    if (parser->context)
      return skv_spec_error_at(ctx, parser->problem_mark,
                               "%s (%s at line %zu, column %zu)", problem,
                               parser->context,
                               parser->context_mark.line + 1,
                               parser->context_mark.column + 1);
    return skv_spec_error_at(ctx, parser->problem_mark, "%s", problem);
  }
}

/* A spec file nests 3 deep at most (a list of specs, a spec, a target
 * list); anything much deeper is not a spec file. */
#define SKV_NESTING_MAX 16

/* libyaml's loader keeps a document's anchors in a list and searches all
 * of it for every new anchor (to refuse a duplicate) and every alias, so
 * their cost grows with anchors x (anchors + aliases): 80,000 anchors took
 * 15 s. A spec file needs none (libyaml has no merge keys to share fields
 * with), so a few are allowed and more refused before the loader runs. */
#define SKV_ANCHORS_MAX 1000
#define SKV_ALIASES_MAX 10000

/* Whether a scalar was written with an explicit tag: its position
 * (libyaml's character index, the same in the first pass's events and the
 * loaded nodes) is among ctx->tagged. */
static bool skv_scalar_tagged(const skv_spec_context *ctx, const yaml_node_t *node) {
  size_t low = 0, high = ctx->tagged_count;
  while (low < high) {
    size_t mid = low + (high - low) / 2;
    if (ctx->tagged[mid] < node->start_mark.index)
      low = mid + 1;
    else
      high = mid;
  }
  return low < ctx->tagged_count && ctx->tagged[low] == node->start_mark.index;
}

static skv_status skv_spec_note_tagged(skv_spec_context *ctx, size_t index,
                                       size_t *capacity) {
  if (ctx->tagged_count == *capacity) {
    size_t grown = *capacity ? 2 * *capacity : 16;
    size_t *bigger = realloc(ctx->tagged, grown * sizeof *bigger);
    if (!bigger)
      return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                       ctx->source.file_name);
    ctx->tagged = bigger;
    *capacity = grown;
  }
  ctx->tagged[ctx->tagged_count++] = index;
  return SKV_OK;
}

/* A first pass over the events, before the loader builds anything:
 * - libyaml's scanner re-examines every open flow level on each token, so
 *   deeply nested input ("[[[[...") costs time quadratic in its depth: it
 *   stops at the first collection nested too deep;
 * - it refuses more anchors or aliases than SKV_ANCHORS_MAX and
 *   SKV_ALIASES_MAX, whose loading is quadratic;
 * - it notes which scalars carry an explicit tag (`!!str 128`), which the
 *   loaded document no longer tells apart from plain ones (both get the
 *   str tag), in ctx->tagged, in order.
 * It reports malformed YAML exactly as the loader would. */
static skv_status skv_spec_prescan(skv_spec_context *ctx) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                     ctx->source.file_name);
  yaml_parser_set_input_string(&parser, ctx->source.text, ctx->source.size);
  skv_status status = SKV_OK;
  int depth = 0;
  size_t anchors = 0, aliases = 0, tagged_capacity = 0;
  bool done = false;
  while (!done && !status) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      status = skv_spec_yaml_error(ctx, &parser);
      break;
    }
    const yaml_char_t *anchor = NULL;
    switch (event.type) {
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      anchor = event.type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor
                                                       : event.data.mapping_start.anchor;
      if (++depth > SKV_NESTING_MAX)
        status = skv_spec_error_at(ctx, event.start_mark,
                                   "nested more than %d levels deep; a spec "
                                   "file needs 3",
                                   SKV_NESTING_MAX);
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      depth--;
      break;
    case YAML_SCALAR_EVENT:
      anchor = event.data.scalar.anchor;
      if (event.data.scalar.tag)
        status = skv_spec_note_tagged(ctx, event.start_mark.index, &tagged_capacity);
      break;
    case YAML_ALIAS_EVENT:
      if (++aliases > SKV_ALIASES_MAX)
        status = skv_spec_error_at(ctx, event.start_mark,
                                   "more than %d aliases in one file; a spec file "
                                   "needs none",
                                   SKV_ALIASES_MAX);
      break;
    case YAML_STREAM_END_EVENT:
      done = true;
      break;
    default:
      break;
    }
    if (anchor && !status && ++anchors > SKV_ANCHORS_MAX)
      status = skv_spec_error_at(ctx, event.start_mark,
                                 "more than %d anchors in one file; a spec file "
                                 "needs none",
                                 SKV_ANCHORS_MAX);
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  return status;
}

/* ---- Keys. ------------------------------------------------------------------- */

/* The keys a spec may give: name, every field of SKV_SPEC_FIELDS (what
 * reaches the kernels and the package), and the two that only a source has:
 * gqa_ratio, another way to give a head count, and target. */
typedef enum skv_key {
  SKV_KEY_name,
#define SKV_KEY_OF_FIELD(member, id, type, min, max, fallback) SKV_KEY_##member,
  SKV_SPEC_FIELDS(SKV_KEY_OF_FIELD)
#undef SKV_KEY_OF_FIELD
  SKV_KEY_gqa_ratio,
  SKV_KEY_target,
  SKV_KEY_COUNT,
} skv_key;

static const char *const skv_key_names[SKV_KEY_COUNT] = {
    "name",
#define SKV_KEY_NAME_OF_FIELD(member, id, type, min, max, fallback) #member,
    SKV_SPEC_FIELDS(SKV_KEY_NAME_OF_FIELD)
#undef SKV_KEY_NAME_OF_FIELD
    "gqa_ratio",
    "target",
};

/* One key and its value in a spec mapping; list items of `target` are read
 * as fields of the same key. */
typedef struct skv_field {
  const char *key;
  yaml_node_t *key_node; /* NULL while the key has not been seen */
  yaml_node_t *value;
} skv_field;

static skv_status skv_key_read(const skv_spec_context *ctx, yaml_node_t *node,
                               skv_key *out_key) {
  if (node->type != YAML_SCALAR_NODE || skv_node_is_null(node)) {
    skv_description found = skv_node_describe(node);
    return skv_spec_error_at(ctx, node->start_mark,
                             "expected a key name, found %s", found.text);
  }
  for (int k = 0; k < SKV_KEY_COUNT; k++) {
    if (skv_scalar_is(node, skv_key_names[k])) {
      *out_key = (skv_key)k;
      return SKV_OK;
    }
  }
  skv_excerpt name = skv_excerpt_of_scalar(node);
  const char *suggestion = skv_nearest_word(node->data.scalar.value, node->data.scalar.length,
                                            skv_key_names, SKV_KEY_COUNT);
  if (suggestion)
    return skv_spec_error_at(ctx, node->start_mark,
                             "unknown key '%s'; did you mean '%s'?", name.text,
                             suggestion);
  skv_text known = {0};
  for (int k = 0; k < SKV_KEY_COUNT; k++)
    skv_text_append(&known, "%s%s", k ? ", " : "", skv_key_names[k]);
  skv_status status =
      known.failed ? SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                               ctx->source.file_name)
                   : skv_spec_error_at(ctx, node->start_mark,
                                       "unknown key '%s'; known keys are %s", name.text,
                                       known.data);
  free(known.data);
  return status;
}

/* ---- Values: one reader per type. ----------------------------------------- */

/* `key:` with nothing after it: point at the key, since the empty value's
 * own position is wherever libyaml gave up looking for it. */
static skv_status skv_field_check_present(const skv_spec_context *ctx,
                                          const skv_field *field) {
  if (skv_node_is_null(field->value))
    return skv_spec_error_at(ctx, field->key_node->start_mark,
                             "'%s' needs a value", field->key);
  return SKV_OK;
}

static skv_status skv_field_type_error(const skv_spec_context *ctx,
                                       const skv_field *field,
                                       const char *expected) {
  skv_description found = skv_node_describe(field->value);
  return skv_spec_error_at(ctx, field->value->start_mark,
                           "expected %s for '%s', found %s", expected,
                           field->key, found.text);
}

/* A number must be written as one: a plain scalar with no tag, or with
 * the tag of its type (`!!int 128`; `!!float` or `!!int` for a float).
 * `!!str 128` is the string "128" in YAML, so it is refused as a quoted
 * "128" is, naming the tag. */
#define SKV_YAML_INT_TAG "tag:yaml.org,2002:int"
#define SKV_YAML_FLOAT_TAG "tag:yaml.org,2002:float"
static skv_status skv_field_check_untagged(const skv_spec_context *ctx,
                                           const skv_field *field, const char *expected,
                                           const char *allowed_tag, const char *also_allowed) {
  const yaml_node_t *node = field->value;
  if (node->type != YAML_SCALAR_NODE || !skv_scalar_tagged(ctx, node))
    return SKV_OK;
  const char *tag = (const char *)node->tag;
  if (tag && (!strcmp(tag, allowed_tag) || (also_allowed && !strcmp(tag, also_allowed))))
    return SKV_OK;
  /* The core schema's tags as written (!!str), others as they are. */
  static const char core[] = "tag:yaml.org,2002:";
  bool is_core = tag && !strncmp(tag, core, sizeof core - 1);
  skv_excerpt shown = skv_excerpt_of_bytes(
      (const unsigned char *)(tag ? tag + (is_core ? sizeof core - 1 : 0) : "?"),
      tag ? strlen(tag) - (is_core ? sizeof core - 1 : 0) : 1);
  skv_excerpt value = skv_excerpt_of_scalar(node);
  return skv_spec_error_at(ctx, node->start_mark,
                           "expected %s for '%s', found '%s' tagged %s%s (a tag "
                           "makes it that type; write the number untagged)",
                           expected, field->key, value.text, is_core ? "!!" : "",
                           shown.text);
}

/* A plain decimal integer ([-+]?[0-9]+). Values beyond +-2^40 saturate:
 * every range the callers check is far inside that, so they report them as
 * out of range, quoting the text. */
static skv_status skv_field_read_int(const skv_spec_context *ctx,
                                     const skv_field *field,
                                     const char *expected,
                                     int64_t *out_value) {
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_check_present(ctx, field));
  const yaml_node_t *node = field->value;
  if (node->type != YAML_SCALAR_NODE ||
      node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return skv_field_type_error(ctx, field, expected);
  SKV_RETURN_IF_ERROR_PLAIN(
      skv_field_check_untagged(ctx, field, expected, SKV_YAML_INT_TAG, NULL));
  const unsigned char *digits = node->data.scalar.value;
  size_t length = node->data.scalar.length;
  size_t i = 0;
  bool negative = false;
  if (i < length && (digits[i] == '+' || digits[i] == '-'))
    negative = digits[i++] == '-';
  if (i == length)
    return skv_field_type_error(ctx, field, expected);
  const int64_t saturated = (int64_t)1 << 40;
  int64_t value = 0;
  for (; i < length; i++) {
    if (!isdigit(digits[i]))
      return skv_field_type_error(ctx, field, expected);
    if (value < saturated)
      value = value * 10 + (digits[i] - '0');
  }
  *out_value = negative ? -value : value;
  return SKV_OK;
}

/* An integer from min to max; `expected` names what the field takes and
 * `others` the values it takes besides the range ("auto or "), for the
 * messages. */
static skv_status skv_field_read_range(const skv_spec_context *ctx,
                                       const skv_field *field,
                                       const char *expected, const char *others,
                                       int min, int max, int *out_value) {
  int64_t value;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_int(ctx, field, expected, &value));
  if (value < min || value > max) {
    skv_excerpt text = skv_excerpt_of_scalar(field->value);
    return skv_spec_error_at(ctx, field->value->start_mark,
                             "%s %s is out of range; use %s%d to %d", field->key,
                             text.text, others, min, max);
  }
  *out_value = (int)value;
  return SKV_OK;
}


/* A plain YAML 1.2 decimal number: [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)
 * ([eE][-+]?[0-9]+)?. Hex floats, .inf and .nan are not accepted. */
static bool skv_is_decimal_number(const unsigned char *s, size_t length) {
  size_t i = 0, digits = 0;
  if (i < length && (s[i] == '+' || s[i] == '-'))
    i++;
  for (; i < length && isdigit(s[i]); i++)
    digits++;
  if (i < length && s[i] == '.')
    for (i++; i < length && isdigit(s[i]); i++)
      digits++;
  if (digits == 0)
    return false;
  if (i < length && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < length && (s[i] == '+' || s[i] == '-'))
      i++;
    size_t exponent_digits = 0;
    for (; i < length && isdigit(s[i]); i++)
      exponent_digits++;
    if (exponent_digits == 0)
      return false;
  }
  return i == length;
}

static skv_status skv_field_read_float(const skv_spec_context *ctx,
                                       const skv_field *field,
                                       double *out_value) {
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_check_present(ctx, field));
  const yaml_node_t *node = field->value;
  if (node->type != YAML_SCALAR_NODE ||
      node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
      !skv_is_decimal_number(node->data.scalar.value,
                             node->data.scalar.length))
    return skv_field_type_error(ctx, field, "a number");
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_check_untagged(ctx, field, "a number",
                                                     SKV_YAML_FLOAT_TAG, SKV_YAML_INT_TAG));
  /* strtod needs a terminated string; the scalar's length is what counts. */
  char *copy = malloc(node->data.scalar.length + 1);
  if (!copy)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                     ctx->source.file_name);
  memcpy(copy, node->data.scalar.value, node->data.scalar.length);
  copy[node->data.scalar.length] = '\0';
  *out_value = strtod(copy, NULL);
  free(copy);
  return SKV_OK;
}

/* One word out of choices (count of them); the message lists them. */
static skv_status skv_field_read_enum(const skv_spec_context *ctx,
                                      const skv_field *field,
                                      const char *const *choices, int count,
                                      int *out_index) {
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_check_present(ctx, field));
  skv_text list = {0};
  for (int i = 0; i < count; i++)
    skv_text_append(&list, "%s%s", i ? ", " : "", choices[i]);
  if (list.failed) {
    free(list.data);
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                     ctx->source.file_name);
  }
  skv_status status = SKV_OK;
  if (field->value->type != YAML_SCALAR_NODE) {
    skv_text expected = {0};
    skv_text_append(&expected, "one of %s", list.data);
    status = expected.failed
                 ? SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                             "%s: error: out of memory", ctx->source.file_name)
                 : skv_field_type_error(ctx, field, expected.data);
    free(expected.data);
  } else {
    int match = -1;
    for (int i = 0; i < count && match < 0; i++)
      if (skv_scalar_is(field->value, choices[i]))
        match = i;
    if (match >= 0) {
      *out_index = match;
    } else {
      skv_excerpt word = skv_excerpt_of_scalar(field->value);
      status = skv_spec_error_at(ctx, field->value->start_mark,
                                 "%s '%s' is not supported; choose one of %s",
                                 field->key, word.text, list.data);
    }
  }
  free(list.data);
  return status;
}

/* ---- The field types of spec_fields.h: one reader each. -------------------- */

/* An enumeration list's words and enumerators, in the same order. */
#define SKV_ENUM_WORD(enumerator, name, value) #name,
#define SKV_ENUM_ENUMERATOR(enumerator, name, value) enumerator,

static skv_status skv_read_COUNT(const skv_spec_context *ctx, const skv_field *field,
                                 int min, int max, int *out_value) {
  return skv_field_read_range(ctx, field, "an integer", "", min, max, out_value);
}

static skv_status skv_read_HEAD_DIM(const skv_spec_context *ctx, const skv_field *field,
                                    int min, int max, int *out_value) {
  int64_t value;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_int(ctx, field, "an integer", &value));
#define SKV_HEAD_DIM_IS(d) value == d ||
  bool known = SKV_HEAD_DIMS(SKV_HEAD_DIM_IS) false;
#undef SKV_HEAD_DIM_IS
  if (!known) {
    skv_excerpt text = skv_excerpt_of_scalar(field->value);
#define SKV_HEAD_DIM_TEXT(d) #d ", "
    static const char choices[] = SKV_HEAD_DIMS(SKV_HEAD_DIM_TEXT);
#undef SKV_HEAD_DIM_TEXT
    /* The list without its trailing ", ". */
    return skv_spec_error_at(ctx, field->value->start_mark,
                             "%s %s is not supported; choose one of %.*s", field->key,
                             text.text, (int)sizeof(choices) - 3, choices);
  }
  *out_value = (int)value;
  return SKV_OK;
}

/* `word` (0) or an integer from min to max. */
static skv_status skv_field_read_word_or_range(const skv_spec_context *ctx,
                                               const skv_field *field, const char *word,
                                               int min, int max, int *out_value) {
  if (skv_scalar_is(field->value, word)) {
    *out_value = 0;
    return SKV_OK;
  }
  char expected[32], others[32];
  snprintf(expected, sizeof expected, "'%s' or an integer", word);
  snprintf(others, sizeof others, "%s or ", word);
  return skv_field_read_range(ctx, field, expected, others, min, max, out_value);
}

static skv_status skv_read_SPLITS(const skv_spec_context *ctx, const skv_field *field,
                                  int min, int max, int *out_value) {
  return skv_field_read_word_or_range(ctx, field, "auto", min, max, out_value);
}

static skv_status skv_read_DTYPE(const skv_spec_context *ctx, const skv_field *field,
                                 int min, int max, skv_dtype *out_value) {
  static const char *const names[] = {SKV_DTYPES(SKV_ENUM_WORD)};
  static const skv_dtype values[] = {SKV_DTYPES(SKV_ENUM_ENUMERATOR)};
  int index;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_enum(
      ctx, field, names, (int)(sizeof(names) / sizeof(names[0])), &index));
  *out_value = values[index];
  return SKV_OK;
}

static skv_status skv_read_KV_LAYOUT(const skv_spec_context *ctx, const skv_field *field,
                                     int min, int max, skv_kv_layout *out_value) {
  static const char *const names[] = {SKV_KV_LAYOUTS(SKV_ENUM_WORD)};
  static const skv_kv_layout values[] = {SKV_KV_LAYOUTS(SKV_ENUM_ENUMERATOR)};
  int index;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_enum(
      ctx, field, names, (int)(sizeof(names) / sizeof(names[0])), &index));
  *out_value = values[index];
  return SKV_OK;
}

static skv_status skv_read_SCALE(const skv_spec_context *ctx, const skv_field *field,
                                 int min, int max, float *out_value) {
  double value = 0.0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_float(ctx, field, &value));
  /* Checked after the conversion to float: 1e-60 is positive as a double
   * but 0 as the float the kernels use. */
  float scale = (float)value;
  if (!(scale > 0.0f) || !isfinite(scale)) {
    skv_excerpt text = skv_excerpt_of_scalar(field->value);
    return skv_spec_error_at(
        ctx, field->value->start_mark,
        "%s %s is out of range; it must be a positive float", field->key,
        text.text);
  }
  *out_value = scale;
  return SKV_OK;
}

/* The tokens per page of a paged cache: an integer in [min, max] (0, no
 * pages, is what a spec without the key gets). */
static skv_status skv_read_PAGE_SIZE(const skv_spec_context *ctx, const skv_field *field,
                                     int min, int max, int *out_value) {
  return skv_field_read_range(ctx, field, "an integer", "", min, max, out_value);
}

/* 'none' (0: every token) or the tokens of a sliding window, min to max. */
static skv_status skv_read_WINDOW(const skv_spec_context *ctx, const skv_field *field,
                                  int min, int max, int *out_value) {
  return skv_field_read_word_or_range(ctx, field, "none", min, max, out_value);
}

/* 'none' (0) or a finite float > 0. */
static skv_status skv_read_CAP(const skv_spec_context *ctx, const skv_field *field, int min,
                               int max, float *out_value) {
  if (skv_scalar_is(field->value, "none")) {
    *out_value = 0.0f;
    return SKV_OK;
  }
  return skv_read_SCALE(ctx, field, min, max, out_value);
}

/* ---- The keys only a source has. ----------------------------------------------- */

/* A spec while its mapping is read: the values so far, and where each key
 * was given (for messages about combinations of keys). */
typedef struct skv_spec_draft {
  skv_spec spec;
  int gqa_ratio;
  skv_field fields[SKV_KEY_COUNT];
} skv_spec_draft;

static skv_status skv_spec_read_name(const skv_spec_context *ctx,
                                     const skv_field *field, skv_spec *spec) {
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_check_present(ctx, field));
  const yaml_node_t *node = field->value;
  if (node->type != YAML_SCALAR_NODE)
    return skv_field_type_error(ctx, field, "a name");
  const unsigned char *name = node->data.scalar.value;
  size_t length = node->data.scalar.length;
  if (length >= SKV_NAME_MAX)
    return skv_spec_error_at(ctx, node->start_mark,
                             "spec name is %zu characters long; at most %d",
                             length, SKV_NAME_MAX - 1);
  /* It prefixes the kernels' entry names: PTX names start with a letter. */
  if (length > 0 && !(name[0] >= 'a' && name[0] <= 'z')) {
    skv_excerpt text = skv_excerpt_of_scalar(node);
    return skv_spec_error_at(ctx, node->start_mark,
                             "spec name '%s' must start with a lowercase letter (it "
                             "begins the kernels' names)",
                             text.text);
  }
  bool valid = length > 0;
  for (size_t i = 0; i < length; i++)
    valid = valid && ((name[i] >= 'a' && name[i] <= 'z') ||
                      (name[i] >= '0' && name[i] <= '9') || name[i] == '_');
  if (!valid) {
    skv_excerpt text = skv_excerpt_of_scalar(node);
    return skv_spec_error_at(
        ctx, node->start_mark,
        "spec name '%s' is not valid; use lowercase letters, digits and '_'",
        text.text);
  }
  memcpy(spec->name, name, length);
  spec->name[length] = '\0';
  spec->line = (int)node->start_mark.line + 1;
  spec->column = (int)node->start_mark.column + 1;
  return SKV_OK;
}

/* One target word, added to the spec's list unless it is already there. */
static skv_status skv_spec_read_one_target(const skv_spec_context *ctx,
                                           const skv_field *field,
                                           skv_spec *spec) {
#define SKV_TARGET_NAME(sm) "sm_" #sm,
#define SKV_TARGET_SM(sm) sm,
  static const char *const names[] = {SKV_TARGETS(SKV_TARGET_NAME)};
  static const int sms[] = {SKV_TARGETS(SKV_TARGET_SM)};
#undef SKV_TARGET_NAME
#undef SKV_TARGET_SM
  int index;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_enum(ctx, field, names, SKV_MAX_TARGETS, &index));
  for (int i = 0; i < spec->num_targets; i++)
    if (spec->targets[i] == sms[index])
      return skv_spec_error_at(ctx, field->value->start_mark,
                               "duplicate target '%s'", names[index]);
  /* Distinct targets out of four choices always fit SKV_MAX_TARGETS. */
  spec->targets[spec->num_targets++] = sms[index];
  return SKV_OK;
}

/* target: sm_90, or a list of them. */
static skv_status skv_spec_read_targets(const skv_spec_context *ctx,
                                        const skv_field *field,
                                        skv_spec *spec) {
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_check_present(ctx, field));
  const yaml_node_t *value = field->value;
  if (value->type == YAML_SCALAR_NODE)
    return skv_spec_read_one_target(ctx, field, spec);
  if (value->type != YAML_SEQUENCE_NODE)
    return skv_field_type_error(ctx, field,
                                "a target (sm_80, sm_86, sm_89, sm_90) or a "
                                "list of them");
  if (value->data.sequence.items.start == value->data.sequence.items.top)
    return skv_spec_error_at(ctx, value->start_mark,
                             "'target' needs at least one target");
  for (yaml_node_item_t *item = value->data.sequence.items.start;
       item < value->data.sequence.items.top; item++) {
    skv_field item_field = *field;
    item_field.value = yaml_document_get_node(ctx->document, *item);
    if (item_field.value->type != YAML_SCALAR_NODE)
      return skv_field_type_error(ctx, &item_field,
                                  "a target (sm_80, sm_86, sm_89, sm_90)");
    SKV_RETURN_IF_ERROR_PLAIN(skv_spec_read_one_target(ctx, &item_field, spec));
  }
  return SKV_OK;
}

static skv_status skv_spec_read_value(const skv_spec_context *ctx,
                                      skv_key key, skv_spec_draft *draft) {
  const skv_field *field = &draft->fields[key];
  skv_spec *spec = &draft->spec;
  switch (key) {
  case SKV_KEY_name:
    return skv_spec_read_name(ctx, field, spec);
#define SKV_READ_FIELD(member, id, type, min, max, fallback)                   \
  case SKV_KEY_##member:                                                       \
    return skv_read_##type(ctx, field, min, max, &spec->member);
    SKV_SPEC_FIELDS(SKV_READ_FIELD)
#undef SKV_READ_FIELD
  case SKV_KEY_gqa_ratio:
    return skv_read_COUNT(ctx, field, 1, SKV_MAX_HEADS, &draft->gqa_ratio);
  case SKV_KEY_target:
    return skv_spec_read_targets(ctx, field, spec);
  case SKV_KEY_COUNT:
    break;
  }
  return SKV_ERROR(SKV_CODE_INTERNAL, "unhandled spec key %d", (int)key);
}

/* ---- Combinations of keys. ------------------------------------------------ */

static bool skv_draft_has(const skv_spec_draft *draft, skv_key key) {
  return draft->fields[key].key_node != NULL;
}

/* Lists every missing required key at the spec mapping's position, in key
 * order: name, the SKV_FIELD_REQUIRED fields, target. Head counts are
 * missing only when the other two keys can't supply them. */
static skv_status skv_spec_check_required(const skv_spec_context *ctx,
                                          const yaml_node_t *mapping,
                                          const skv_spec_draft *draft) {
  bool q = skv_draft_has(draft, SKV_KEY_num_q_heads);
  bool kv = skv_draft_has(draft, SKV_KEY_num_kv_heads);
  bool gqa = skv_draft_has(draft, SKV_KEY_gqa_ratio);
  const char *missing[SKV_KEY_COUNT + 1];
  char quoted[SKV_KEY_COUNT][SKV_NAME_MAX];
  int count = 0;
  for (int k = 0; k < SKV_KEY_COUNT; k++) {
    bool required = k == SKV_KEY_name || k == SKV_KEY_target;
#define SKV_FIELD_REQUIRED_CASE(member, id, type, min, max, fallback)          \
  if (k == SKV_KEY_##member)                                                   \
    required = (fallback) == SKV_FIELD_REQUIRED;
    SKV_SPEC_FIELDS(SKV_FIELD_REQUIRED_CASE)
#undef SKV_FIELD_REQUIRED_CASE
    if (required && !skv_draft_has(draft, (skv_key)k)) {
      snprintf(quoted[k], sizeof quoted[k], "'%s'", skv_key_names[k]);
      missing[count++] = quoted[k];
    }
    /* The head counts: any two of num_q_heads, num_kv_heads, gqa_ratio. */
    if (k == SKV_KEY_num_q_heads) {
      if (gqa && !q && !kv) {
        missing[count++] = "'num_q_heads' or 'num_kv_heads'";
      } else {
        if (!q && !(kv && gqa))
          missing[count++] = kv ? "'num_q_heads' (or 'gqa_ratio')" : "'num_q_heads'";
        if (!kv && !(q && gqa))
          missing[count++] = q ? "'num_kv_heads' (or 'gqa_ratio')" : "'num_kv_heads'";
      }
    }
  }
  if (count == 0)
    return SKV_OK;

  skv_text text = {0};
  if (draft->spec.name[0])
    skv_text_append(&text, "spec '%s' is", draft->spec.name);
  else
    skv_text_append(&text, "spec is");
  skv_text_append(&text, " missing required key%s ", count > 1 ? "s" : "");
  for (int i = 0; i < count; i++)
    skv_text_append(&text, "%s%s", i ? ", " : "", missing[i]);
  skv_status status =
      text.failed ? SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                              ctx->source.file_name)
                  : skv_spec_error_at(ctx, mapping->start_mark, "%s", text.data);
  free(text.data);
  return status;
}

/* num_q_heads = num_kv_heads * gqa_ratio: derives the missing one of the
 * three, or checks all three agree. Runs after skv_spec_check_required, so
 * at least two are known. */
static skv_status skv_spec_resolve_heads(const skv_spec_context *ctx,
                                         skv_spec_draft *draft) {
  skv_spec *spec = &draft->spec;
  int q = spec->num_q_heads, kv = spec->num_kv_heads, gqa = draft->gqa_ratio;
  yaml_mark_t kv_mark = {0}, gqa_mark = {0};
  if (skv_draft_has(draft, SKV_KEY_num_kv_heads))
    kv_mark = draft->fields[SKV_KEY_num_kv_heads].value->start_mark;
  if (skv_draft_has(draft, SKV_KEY_gqa_ratio))
    gqa_mark = draft->fields[SKV_KEY_gqa_ratio].value->start_mark;

  if (skv_draft_has(draft, SKV_KEY_num_q_heads) &&
      skv_draft_has(draft, SKV_KEY_num_kv_heads)) {
    if (q % kv != 0)
      return skv_spec_error_at(ctx, kv_mark,
                               "num_kv_heads %d does not divide num_q_heads %d",
                               kv, q);
    if (skv_draft_has(draft, SKV_KEY_gqa_ratio) && gqa != q / kv)
      return skv_spec_error_at(
          ctx, gqa_mark,
          "gqa_ratio %d does not match num_q_heads / num_kv_heads = %d / %d "
          "= %d",
          gqa, q, kv, q / kv);
  } else if (skv_draft_has(draft, SKV_KEY_num_q_heads)) {
    if (q % gqa != 0)
      return skv_spec_error_at(ctx, gqa_mark,
                               "gqa_ratio %d does not divide num_q_heads %d",
                               gqa, q);
    spec->num_kv_heads = q / gqa;
  } else {
    /* Both at most SKV_MAX_HEADS: the product fits an int. */
    if (kv * gqa > SKV_MAX_HEADS)
      return skv_spec_error_at(
          ctx, gqa_mark,
          "num_kv_heads %d * gqa_ratio %d = %d query heads is out of range; "
          "at most %d",
          kv, gqa, kv * gqa, SKV_MAX_HEADS);
    spec->num_q_heads = kv * gqa;
  }
  int group = spec->num_q_heads / spec->num_kv_heads;
  if (group > SKV_MAX_GQA_GROUP) {
    yaml_mark_t at = skv_draft_has(draft, SKV_KEY_gqa_ratio)      ? gqa_mark
                     : skv_draft_has(draft, SKV_KEY_num_kv_heads) ? kv_mark
                         : draft->fields[SKV_KEY_num_q_heads].value->start_mark;
    return skv_spec_error_at(ctx, at,
                             "a GQA group of %d q heads per kv head (%d / %d) is more than "
                             "the %d the kernels take",
                             group, spec->num_q_heads, spec->num_kv_heads, SKV_MAX_GQA_GROUP);
  }
  /* Both at most 1024: the product fits an int. */
  int row = spec->num_kv_heads * spec->head_dim;
  if (row > SKV_MAX_KV_ROW_ELEMS) {
    yaml_mark_t at = skv_draft_has(draft, SKV_KEY_num_kv_heads) ? kv_mark
                     : skv_draft_has(draft, SKV_KEY_gqa_ratio)  ? gqa_mark
                         : draft->fields[SKV_KEY_num_q_heads].value->start_mark;
    return skv_spec_error_at(ctx, at,
                             "num_kv_heads %d x head_dim %d = %d elements per token is "
                             "more than the %d whose cache size the runtime can compute "
                             "for every call it takes",
                             spec->num_kv_heads, spec->head_dim, row, SKV_MAX_KV_ROW_ELEMS);
  }
  return SKV_OK;
}

/* A paged cache needs a page_size, a contiguous one has none: at the key
 * that is there (or the mapping, when page_size is missing). */
static skv_status skv_spec_check_layout(const skv_spec_context *ctx,
                                        const yaml_node_t *mapping,
                                        const skv_spec_draft *draft) {
  bool paged = draft->spec.kv_layout == SKV_KV_PAGED;
  bool sized = skv_draft_has(draft, SKV_KEY_page_size);
  if (paged && !sized)
    return skv_spec_error_at(ctx, skv_draft_has(draft, SKV_KEY_kv_layout)
                                      ? draft->fields[SKV_KEY_kv_layout].value->start_mark
                                      : mapping->start_mark,
                             "kv_layout 'paged' needs a page_size (tokens per page, "
                             "1 to %d)",
                             SKV_MAX_PAGE_SIZE);
  if (!paged && sized)
    return skv_spec_error_at(ctx, draft->fields[SKV_KEY_page_size].key_node->start_mark,
                             "page_size belongs to kv_layout 'paged'; this spec's cache "
                             "is contiguous");
  return SKV_OK;
}

/* ---- Specs, documents, files. --------------------------------------------- */

/* The fields a spec left out: their fallback values, and the derived ones
 * computed (head counts are resolved before, by skv_spec_resolve_heads). */
static void skv_spec_fill_fallbacks(skv_spec_draft *draft) {
  skv_spec *spec = &draft->spec;
#define SKV_FIELD_FALLBACK(member, id, type, min, max, fallback)               \
  if (!skv_draft_has(draft, SKV_KEY_##member) && (fallback) != SKV_FIELD_REQUIRED &&   \
      (fallback) != SKV_FIELD_DERIVED)                                         \
    spec->member = (SKV_FIELD_##type##_CTYPE)(fallback);
  SKV_SPEC_FIELDS(SKV_FIELD_FALLBACK)
#undef SKV_FIELD_FALLBACK
  if (!skv_draft_has(draft, SKV_KEY_softmax_scale))
    spec->softmax_scale = (float)(1.0 / sqrt((double)spec->head_dim));
}

static skv_status skv_spec_read_mapping(const skv_spec_context *ctx,
                                        yaml_node_t *mapping,
                                        skv_spec *out_spec) {
  skv_spec_draft draft = {0};
  for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
       pair < mapping->data.mapping.pairs.top; pair++) {
    yaml_node_t *key_node = yaml_document_get_node(ctx->document, pair->key);
    skv_key key = SKV_KEY_COUNT;
    SKV_RETURN_IF_ERROR_PLAIN(skv_key_read(ctx, key_node, &key));
    skv_field *field = &draft.fields[key];
    if (field->key_node)
      return skv_spec_error_at(
          ctx, key_node->start_mark,
          "duplicate key '%s'; first given at line %zu, column %zu",
          skv_key_names[key], field->key_node->start_mark.line + 1,
          field->key_node->start_mark.column + 1);
    field->key = skv_key_names[key];
    field->key_node = key_node;
    field->value = yaml_document_get_node(ctx->document, pair->value);
    SKV_RETURN_IF_ERROR_PLAIN(skv_spec_read_value(ctx, key, &draft));
  }
  SKV_RETURN_IF_ERROR_PLAIN(skv_spec_check_required(ctx, mapping, &draft));
  SKV_RETURN_IF_ERROR_PLAIN(skv_spec_resolve_heads(ctx, &draft));
  skv_spec_fill_fallbacks(&draft);
  SKV_RETURN_IF_ERROR_PLAIN(skv_spec_check_layout(ctx, mapping, &draft));
  snprintf(draft.spec.file, sizeof draft.spec.file, "%s", ctx->source.file_name);
  *out_spec = draft.spec;
  return SKV_OK;
}

/* Spec names seen so far, to find a duplicate in one look-up per spec (a
 * scan of every earlier name made 60,000 specs take 19 s): an open-address
 * hash table of indexes into a spec array that the caller passes to each
 * call (it may move as it grows). */
typedef struct skv_name_set {
  int *slots;      /* index + 1, or 0 for an empty slot */
  size_t capacity; /* a power of two, at least twice count */
  size_t count;
} skv_name_set;

static size_t skv_name_hash(const char *name) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *name; name++)
    h = (h ^ (unsigned char)*name) * 1099511628211ull;
  return (size_t)h;
}

/* Adds specs[index]'s name, or finds it: *out_first is the index of the
 * spec that already had it (the first, since only new names are added),
 * or -1 when it was new. False when out of memory. */
static bool skv_name_set_add(skv_name_set *set, const skv_spec *specs, int index,
                             int *out_first) {
  *out_first = -1;
  if (2 * (set->count + 1) > set->capacity) {
    size_t capacity = set->capacity ? 2 * set->capacity : 64;
    int *slots = calloc(capacity, sizeof *slots);
    if (!slots)
      return false;
    for (size_t i = 0; i < set->capacity; i++) {
      if (!set->slots[i])
        continue;
      size_t at = skv_name_hash(specs[set->slots[i] - 1].name) & (capacity - 1);
      while (slots[at])
        at = (at + 1) & (capacity - 1);
      slots[at] = set->slots[i];
    }
    free(set->slots);
    set->slots = slots;
    set->capacity = capacity;
  }
  const char *name = specs[index].name;
  size_t at = skv_name_hash(name) & (set->capacity - 1);
  for (; set->slots[at]; at = (at + 1) & (set->capacity - 1)) {
    if (strcmp(specs[set->slots[at] - 1].name, name) == 0) {
      *out_first = set->slots[at] - 1;
      return true;
    }
  }
  set->slots[at] = index + 1;
  set->count++;
  return true;
}

/* The specs read so far from one file, and their names. */
typedef struct skv_spec_builder {
  skv_spec *specs;
  int count;
  int capacity;
  skv_name_set names;
} skv_spec_builder;

static skv_status skv_spec_builder_add(const skv_spec_context *ctx,
                                       skv_spec_builder *builder,
                                       const skv_spec *spec) {
  if (builder->count == builder->capacity) {
    if (builder->capacity > INT_MAX / 2)
      return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: too many specs",
                       ctx->source.file_name);
    int capacity = builder->capacity ? 2 * builder->capacity : 4;
    skv_spec *specs = realloc(builder->specs, (size_t)capacity * sizeof *specs);
    if (!specs)
      return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                       ctx->source.file_name);
    builder->specs = specs;
    builder->capacity = capacity;
  }
  /* Placed first, so the name set can read it; counted only once its
   * name is known to be new. */
  builder->specs[builder->count] = *spec;
  int first_index = -1;
  if (!skv_name_set_add(&builder->names, builder->specs, builder->count, &first_index))
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                     ctx->source.file_name);
  if (first_index >= 0) {
    const skv_spec *first = &builder->specs[first_index];
    skv_mark mark = {(size_t)spec->line - 1, (size_t)spec->column - 1};
    return skv_source_error_at(&ctx->source, mark,
                               "duplicate spec name '%s'; first defined at "
                               "%s:%d:%d",
                               spec->name, ctx->source.file_name, first->line,
                               first->column);
  }
  builder->count++;
  return SKV_OK;
}

static skv_status skv_spec_read_one(const skv_spec_context *ctx,
                                    yaml_node_t *node,
                                    skv_spec_builder *builder) {
  skv_spec spec;
  SKV_RETURN_IF_ERROR_PLAIN(skv_spec_read_mapping(ctx, node, &spec));
  return skv_spec_builder_add(ctx, builder, &spec);
}

/* A document is one spec (a mapping), a list of specs, or nothing. */
static skv_status skv_spec_read_document(const skv_spec_context *ctx,
                                         skv_spec_builder *builder) {
  yaml_node_t *root = yaml_document_get_root_node(ctx->document);
  if (root->type == YAML_MAPPING_NODE)
    return skv_spec_read_one(ctx, root, builder);
  if (root->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *item = root->data.sequence.items.start;
         item < root->data.sequence.items.top; item++) {
      yaml_node_t *node = yaml_document_get_node(ctx->document, *item);
      if (node->type != YAML_MAPPING_NODE) {
        skv_description found = skv_node_describe(node);
        return skv_spec_error_at(ctx, node->start_mark,
                                 "expected a spec (a mapping of keys), "
                                 "found %s",
                                 found.text);
      }
      SKV_RETURN_IF_ERROR_PLAIN(skv_spec_read_one(ctx, node, builder));
    }
    return SKV_OK;
  }
  if (skv_node_is_null(root))
    return SKV_OK;
  skv_description found = skv_node_describe(root);
  return skv_spec_error_at(ctx, root->start_mark,
                           "expected a spec (a mapping of keys) or a list of "
                           "specs, found %s",
                           found.text);
}

skv_status skv_spec_parse_string(const char *text, size_t size,
                                 const char *file_name,
                                 skv_spec_list **out_list) {
  if (!out_list || (!text && size) || !file_name)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "skv_spec_parse_string: NULL argument");
  *out_list = NULL;
  skv_spec_context ctx = {
      .source = {.file_name = file_name,
                 .text = (const unsigned char *)(text ? text : ""),
                 .size = text ? size : 0},
  };
  skv_status prescan = skv_spec_prescan(&ctx);
  yaml_parser_t parser;
  if (prescan || !yaml_parser_initialize(&parser)) {
    free(ctx.tagged);
    return prescan ? prescan
                   : SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                               file_name);
  }
  yaml_parser_set_input_string(&parser, ctx.source.text, ctx.source.size);

  skv_spec_builder builder = {0};
  skv_status status = SKV_OK;
  while (!status) {
    yaml_document_t document;
    if (!yaml_parser_load(&parser, &document)) {
      /* yaml_parser_load frees the document itself when it fails. */
      status = skv_spec_yaml_error(&ctx, &parser);
      break;
    }
    bool end_of_stream = yaml_document_get_root_node(&document) == NULL;
    if (!end_of_stream) {
      ctx.document = &document;
      status = skv_spec_read_document(&ctx, &builder);
      ctx.document = NULL;
    }
    yaml_document_delete(&document);
    if (end_of_stream)
      break;
  }
  yaml_parser_delete(&parser);
  free(ctx.tagged);
  free(builder.names.slots);

  if (!status && builder.count == 0)
    status = SKV_ERROR(SKV_CODE_PARSE_ERROR, "%s: error: no specs in file",
                       file_name);
  skv_spec_list *list = NULL;
  if (!status) {
    list = malloc(sizeof *list);
    if (!list)
      status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                         file_name);
  }
  if (status) {
    free(builder.specs);
    return status;
  }
  list->specs = builder.specs;
  list->count = builder.count;
  *out_list = list;
  return SKV_OK;
}

/* The largest spec file read: specs are a few hundred bytes each, and a
 * stream that never ends (/dev/zero) must not run memory out. */
#define SKV_SPEC_FILE_MAX (16u << 20)

/* Reads a whole file into a heap buffer (pipes and /dev/stdin included, so
 * no size is asked up front), at most SKV_SPEC_FILE_MAX bytes. */
static skv_status skv_file_read(const char *path, char **out_text,
                                size_t *out_size) {
  FILE *file = fopen(path, "rb");
  if (!file) {
    int error = errno;
    skv_status_code code = error == ENOENT || error == ENOTDIR
                               ? SKV_CODE_NOT_FOUND
                               : SKV_CODE_IO_ERROR;
    return SKV_ERROR(code, "error: cannot open '%s': %s", path,
                     strerror(error));
  }
  char *text = NULL;
  size_t size = 0, capacity = 0;
  skv_status status = SKV_OK;
  for (;;) {
    if (size > SKV_SPEC_FILE_MAX) {
      status = SKV_ERROR(SKV_CODE_IO_ERROR,
                         "%s: error: the file is larger than %u MiB, more than a spec "
                         "file holds",
                         path, SKV_SPEC_FILE_MAX >> 20);
      break;
    }
    if (size == capacity) {
      size_t grown = capacity ? 2 * capacity : 4096;
      char *bigger = grown > capacity ? realloc(text, grown) : NULL;
      if (!bigger) {
        status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                           "error: out of memory reading '%s'", path);
        break;
      }
      text = bigger;
      capacity = grown;
    }
    size_t got = fread(text + size, 1, capacity - size, file);
    size += got;
    if (got == 0 || feof(file) || ferror(file))
      break;
  }
  if (!status && ferror(file))
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "error: cannot read '%s': %s", path,
                       strerror(errno));
  fclose(file);
  if (status) {
    free(text);
    return status;
  }
  *out_text = text;
  *out_size = size;
  return SKV_OK;
}

skv_status skv_spec_parse_file(const char *path, skv_spec_list **out_list) {
  if (!path || !out_list)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "skv_spec_parse_file: NULL argument");
  *out_list = NULL;
  char *text = NULL;
  size_t size = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_file_read(path, &text, &size));
  skv_status status = skv_spec_parse_string(text, size, path, out_list);
  free(text);
  return status;
}

void skv_spec_list_destroy(skv_spec_list *list) {
  if (!list)
    return;
  free(list->specs);
  free(list);
}

/* Names must be unique across every file one compile reads: they prefix the
 * kernel names in one package. The source line is not quoted here: the
 * files' text is gone by now. */
static skv_status skv_spec_duplicate_error(const skv_spec *spec,
                                           const skv_spec *first) {
  return SKV_ERROR(SKV_CODE_PARSE_ERROR,
                   "%s:%d:%d: error: duplicate spec name '%s'; first defined "
                   "at %s:%d:%d",
                   spec->file, spec->line, spec->column, spec->name,
                   first->file, first->line, first->column);
}

skv_status skv_spec_list_append(skv_spec_list *dst, const skv_spec_list *src) {
  if (!dst || !src || dst->count < 0 || src->count < 0)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "skv_spec_list_append: NULL or invalid list");
  if (src->count == 0)
    return SKV_OK;
  if (dst->count > INT_MAX - src->count)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "skv_spec_list_append: too many specs");
  /* src is copied behind dst's specs, then every name is checked in one
   * pass over both (dst's first, so a clash names dst's spec as the
   * first); on a clash dst->count is left as it was, and the copy past it
   * is ignored. */
  size_t count = (size_t)dst->count + (size_t)src->count;
  skv_spec *specs = realloc(dst->specs, count * sizeof *specs);
  if (!specs)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                     "skv_spec_list_append: out of memory");
  dst->specs = specs;
  memcpy(specs + dst->count, src->specs, (size_t)src->count * sizeof *specs);
  skv_name_set names = {0};
  skv_status status = SKV_OK;
  for (int i = 0; i < (int)count && !status; i++) {
    int first = -1;
    if (!skv_name_set_add(&names, specs, i, &first))
      status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "skv_spec_list_append: out of memory");
    else if (first >= 0)
      status = skv_spec_duplicate_error(&specs[i], &specs[first]);
  }
  free(names.slots);
  if (status)
    return status;
  dst->count = (int)count;
  return SKV_OK;
}
