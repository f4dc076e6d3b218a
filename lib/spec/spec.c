/* Spec files: YAML text -> validated skv_spec lists, through libyaml's
 * document API.
 *
 * Decisions the issue left open:
 * - Required: name, head_dim, dtype, target, and enough of num_q_heads,
 *   num_kv_heads and gqa_ratio to know both head counts (any two of them).
 *   A lone num_q_heads is an error rather than a silent multi-head default:
 *   a forgotten num_kv_heads would otherwise build the wrong kernel.
 * - Defaults: kv_layout contiguous (the only layout supported yet), splits
 *   auto (0: the runtime picks the count per call), softmax_scale
 *   1/sqrt(head_dim).
 * - Ranges: head counts and gqa_ratio 1..1024, splits 1..256.
 * - Integers and floats must be plain (unquoted) scalars: a quoted "128" is a
 *   string in YAML, and accepting it would hide a typing mistake. Names and
 *   enum words may be quoted.
 * - A document holding nothing (a lone '---' or '~') is skipped; a file with
 *   no spec at all is an error.
 * - Parsing stops at the first problem: one message, with position and caret.
 * - A spec's line and column are those of its name value: that is what a
 *   duplicate-name message points at.
 *
 * Robustness (this parser faces arbitrary input): libyaml 0.2.5 loads a
 * document without recursion, and this file only looks a fixed depth down
 * (document -> list of specs -> spec -> target list), so no input can make
 * it recurse; a first pass rejects deep nesting, which libyaml handles in
 * quadratic time. Messages grow in a heap buffer; values echoed from the
 * input go through a bounded, escaped excerpt, source lines through a
 * window around the mark. */
#include "splitkv/spec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define SKV_HEADS_MAX 1024

/* ---- A growing text buffer for messages. --------------------------------- */

typedef struct skv_text {
  char *data;
  size_t length;
  size_t capacity;
  bool failed; /* an allocation failed; the message becomes out-of-memory */
} skv_text;

static void skv_text_append_bytes(skv_text *text, const char *bytes,
                                  size_t count) {
  if (text->failed)
    return;
  size_t need = text->length + count + 1;
  if (need > text->capacity) {
    size_t capacity = text->capacity ? text->capacity : 256;
    while (capacity < need)
      capacity *= 2;
    char *data = realloc(text->data, capacity);
    if (!data) {
      text->failed = true;
      return;
    }
    text->data = data;
    text->capacity = capacity;
  }
  memcpy(text->data + text->length, bytes, count);
  text->length += count;
  text->data[text->length] = '\0';
}

static void skv_text_append_char(skv_text *text, char c) {
  skv_text_append_bytes(text, &c, 1);
}

static void skv_text_vappend(skv_text *text, const char *fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int count = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (count < 0) {
    text->failed = true;
    return;
  }
  char *formatted = malloc((size_t)count + 1);
  if (!formatted) {
    text->failed = true;
    return;
  }
  vsnprintf(formatted, (size_t)count + 1, fmt, args);
  skv_text_append_bytes(text, formatted, (size_t)count);
  free(formatted);
}

static void skv_text_append(skv_text *text, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void skv_text_append(skv_text *text, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  skv_text_vappend(text, fmt, args);
  va_end(args);
}

/* Turns the finished message into a status of the given code and frees the
 * buffer. */
static skv_status skv_text_to_status(skv_text *text, skv_status_code code) {
  skv_status status =
      text->failed ? SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                               "out of memory while reporting a spec error")
                   : SKV_ERROR(code, "%s", text->data ? text->data : "");
  free(text->data);
  *text = (skv_text){0};
  return status;
}

/* ---- Echoing input values in messages. ------------------------------------ */

/* Input values can be huge or hold control bytes; a message shows at most
 * SKV_EXCERPT_BYTES of one, printable ASCII kept and the rest as \xNN, so a
 * message stays one readable line. */
#define SKV_EXCERPT_BYTES 48

typedef struct skv_excerpt {
  char text[4 * SKV_EXCERPT_BYTES + 32];
} skv_excerpt;

static skv_excerpt skv_excerpt_of_bytes(const unsigned char *bytes,
                                        size_t length) {
  skv_excerpt excerpt;
  size_t out = 0;
  size_t shown = length < SKV_EXCERPT_BYTES ? length : SKV_EXCERPT_BYTES;
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = bytes[i];
    if (c >= 0x20 && c < 0x7f)
      excerpt.text[out++] = (char)c;
    else
      out += (size_t)snprintf(excerpt.text + out, sizeof excerpt.text - out,
                              "\\x%02x", c);
  }
  if (shown < length)
    out += (size_t)snprintf(excerpt.text + out, sizeof excerpt.text - out,
                            "...");
  excerpt.text[out] = '\0';
  return excerpt;
}

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

/* ---- Positions: source lines and carets. ---------------------------------- */

typedef struct skv_spec_context {
  const char *file_name;
  const unsigned char *text; /* the whole source, to quote lines from */
  size_t size;
  yaml_document_t *document; /* the document being read */
} skv_spec_context;

/* Bytes taken by the line break at text[i] (0 if none), counted the way
 * libyaml counts lines: \r\n, \n, \r, NEL, LS and PS. */
static size_t skv_line_break_width(const unsigned char *text, size_t size,
                                   size_t i) {
  if (text[i] == '\r')
    return i + 1 < size && text[i + 1] == '\n' ? 2 : 1;
  if (text[i] == '\n')
    return 1;
  if (text[i] == 0xc2 && i + 1 < size && text[i + 1] == 0x85)
    return 2;
  if (text[i] == 0xe2 && i + 2 < size && text[i + 1] == 0x80 &&
      (text[i + 2] == 0xa8 || text[i + 2] == 0xa9))
    return 3;
  return 0;
}

/* libyaml skips a UTF-8 byte order mark without counting it in its marks. */
static size_t skv_source_start(const skv_spec_context *ctx) {
  if (ctx->size >= 3 && memcmp(ctx->text, "\xef\xbb\xbf", 3) == 0)
    return 3;
  return 0;
}

static bool skv_is_utf8_continuation(unsigned char c) {
  return (c & 0xc0) == 0x80;
}

/* The byte range of 0-based line `line`; empty past the end of the text. */
static void skv_source_find_line(const skv_spec_context *ctx, size_t line,
                                 size_t *out_start, size_t *out_length) {
  size_t i = skv_source_start(ctx);
  for (size_t current = 0; current < line && i < ctx->size;) {
    size_t width = skv_line_break_width(ctx->text, ctx->size, i);
    i += width ? width : 1;
    current += width ? 1 : 0;
  }
  size_t end = i;
  while (end < ctx->size && !skv_line_break_width(ctx->text, ctx->size, end))
    end++;
  *out_start = i;
  *out_length = end - i;
}

/* The mark (0-based line and character column) of a byte offset, for
 * libyaml's reader errors, which give only the offset. */
static yaml_mark_t skv_source_mark_at(const skv_spec_context *ctx,
                                      size_t offset) {
  yaml_mark_t mark = {0};
  size_t i = skv_source_start(ctx);
  while (i < offset && i < ctx->size) {
    size_t width = skv_line_break_width(ctx->text, ctx->size, i);
    if (width) {
      mark.line++;
      mark.column = 0;
      i += width;
    } else {
      mark.column += skv_is_utf8_continuation(ctx->text[i]) ? 0 : 1;
      i++;
    }
  }
  return mark;
}

/* Characters of a long source line shown in a message, around the mark. */
#define SKV_SOURCE_SHOWN 120

/* Appends "\n<source line>\n<caret>". Control bytes in the line become '?'
 * so the message stays three lines; tabs are kept, and repeated under them,
 * so the caret lines up in a terminal. A long line (minified YAML, fuzzed
 * input) is cut to a window around the mark, marked by "...". */
static void skv_text_append_source(skv_text *text, const skv_spec_context *ctx,
                                   yaml_mark_t mark) {
  size_t start, length;
  skv_source_find_line(ctx, mark.line, &start, &length);
  const unsigned char *line = ctx->text + start;
  size_t first = mark.column + 20 < SKV_SOURCE_SHOWN
                     ? 0
                     : mark.column - SKV_SOURCE_SHOWN / 2;
  size_t last = first + SKV_SOURCE_SHOWN;

  skv_text_append(text, "\n%s", first > 0 ? "..." : "");
  size_t index = 0; /* the character that line[i] belongs to */
  for (size_t i = 0; i < length; i++) {
    if (i > 0 && !skv_is_utf8_continuation(line[i]))
      index++;
    if (index < first)
      continue;
    if (index >= last) {
      skv_text_append(text, "...");
      break;
    }
    unsigned char c = line[i];
    bool control = (c < 0x20 && c != '\t') || c == 0x7f;
    skv_text_append_char(text, control ? '?' : (char)c);
  }

  skv_text_append(text, "\n%s", first > 0 ? "   " : "");
  size_t column = first;
  index = 0;
  for (size_t i = 0; i < length; i++) {
    if (i > 0 && !skv_is_utf8_continuation(line[i]))
      index++;
    if (skv_is_utf8_continuation(line[i]) || index < first)
      continue;
    if (index >= mark.column)
      break;
    skv_text_append_char(text, line[i] == '\t' ? '\t' : ' ');
    column++;
  }
  for (; column < mark.column; column++)
    skv_text_append_char(text, ' ');
  skv_text_append_char(text, '^');
}

/* The one way a spec error is made: "file:line:col: error: message", the
 * source line and a caret under the mark. */
static skv_status skv_spec_error_at(const skv_spec_context *ctx,
                                    yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static skv_status skv_spec_error_at(const skv_spec_context *ctx,
                                    yaml_mark_t mark, const char *fmt, ...) {
  skv_text text = {0};
  skv_text_append(&text, "%s:%zu:%zu: error: ", ctx->file_name,
                  mark.line + 1, mark.column + 1);
  va_list args;
  va_start(args, fmt);
  skv_text_vappend(&text, fmt, args);
  va_end(args);
  skv_text_append_source(&text, ctx, mark);
  return skv_text_to_status(&text, SKV_CODE_PARSE_ERROR);
}

/* libyaml's own errors (malformed YAML), with its position and wording. */
static skv_status skv_spec_yaml_error(const skv_spec_context *ctx,
                                      const yaml_parser_t *parser) {
  const char *problem = parser->problem ? parser->problem : "invalid YAML";
  switch (parser->error) {
  case YAML_MEMORY_ERROR:
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                     "%s: error: out of memory while parsing YAML",
                     ctx->file_name);
  case YAML_READER_ERROR: {
    yaml_mark_t mark = skv_source_mark_at(ctx, parser->problem_offset);
    if (parser->problem_value != -1)
      return skv_spec_error_at(ctx, mark, "%s (byte #x%02X)", problem,
                               (unsigned)parser->problem_value);
    return skv_spec_error_at(ctx, mark, "%s", problem);
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

/* libyaml's scanner re-examines every open flow level on each token, so
 * deeply nested input ("[[[[...") costs time quadratic in its depth, and its
 * loader builds whatever it is given. This first pass over the events stops
 * at the first collection nested too deep, before that cost is paid. It
 * reports malformed YAML exactly as the loader would. */
static skv_status skv_spec_check_nesting(const skv_spec_context *ctx) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                     ctx->file_name);
  yaml_parser_set_input_string(&parser, ctx->text, ctx->size);
  skv_status status = SKV_OK;
  int depth = 0;
  bool done = false;
  while (!done && !status) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      status = skv_spec_yaml_error(ctx, &parser);
      break;
    }
    switch (event.type) {
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
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
    case YAML_STREAM_END_EVENT:
      done = true;
      break;
    default:
      break;
    }
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  return status;
}

/* ---- Keys. ---------------------------------------------------------------- */

typedef enum skv_key {
  SKV_KEY_NAME,
  SKV_KEY_HEAD_DIM,
  SKV_KEY_NUM_Q_HEADS,
  SKV_KEY_NUM_KV_HEADS,
  SKV_KEY_GQA_RATIO,
  SKV_KEY_DTYPE,
  SKV_KEY_KV_LAYOUT,
  SKV_KEY_SPLITS,
  SKV_KEY_TARGET,
  SKV_KEY_SOFTMAX_SCALE,
  SKV_KEY_PAGE_SIZE, /* known, to reject it with the reason; never suggested */
  SKV_KEY_COUNT,
} skv_key;

#define SKV_KEY_SUGGESTED_COUNT SKV_KEY_PAGE_SIZE

static const char *const skv_key_names[SKV_KEY_COUNT] = {
    "name",      "head_dim", "num_q_heads", "num_kv_heads",
    "gqa_ratio", "dtype",    "kv_layout",   "splits",
    "target",    "softmax_scale", "page_size",
};

/* One key and its value in a spec mapping; list items of `target` are read
 * as fields of the same key. */
typedef struct skv_field {
  const char *key;
  yaml_node_t *key_node; /* NULL while the key has not been seen */
  yaml_node_t *value;
} skv_field;

/* Levenshtein distance between the input key a (any length) and a known
 * key b (short), ASCII case folded. */
static size_t skv_edit_distance(const unsigned char *a, size_t a_length,
                                const char *b) {
  enum { SKV_KEY_LENGTH_MAX = 16 };
  size_t b_length = strlen(b);
  size_t row[SKV_KEY_LENGTH_MAX + 1];
  if (b_length > SKV_KEY_LENGTH_MAX)
    return SIZE_MAX;
  for (size_t j = 0; j <= b_length; j++)
    row[j] = j;
  for (size_t i = 1; i <= a_length; i++) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b_length; j++) {
      size_t above = row[j];
      size_t substitute =
          diagonal + (tolower(a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1);
      size_t best = substitute;
      if (above + 1 < best)
        best = above + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diagonal = above;
    }
  }
  return row[b_length];
}

/* The known key nearest to an unknown one, or NULL when none is near enough
 * to be a plausible typo. */
static const char *skv_key_suggest(const yaml_node_t *node) {
  const unsigned char *name = node->data.scalar.value;
  size_t length = node->data.scalar.length;
  const char *best = NULL;
  size_t best_distance = SIZE_MAX;
  for (int k = 0; k < SKV_KEY_SUGGESTED_COUNT; k++) {
    size_t known = strlen(skv_key_names[k]);
    /* The distance is at least the length difference: skip long inputs
     * early, which also bounds the work on huge keys. */
    if (length > known + 4)
      continue;
    size_t distance = skv_edit_distance(name, length, skv_key_names[k]);
    if (distance < best_distance) {
      best_distance = distance;
      best = skv_key_names[k];
    }
  }
  if (best && (best_distance <= 2 || 3 * best_distance <= strlen(best)))
    return best;
  return NULL;
}

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
  const char *suggestion = skv_key_suggest(node);
  if (suggestion)
    return skv_spec_error_at(ctx, node->start_mark,
                             "unknown key '%s'; did you mean '%s'?", name.text,
                             suggestion);
  return skv_spec_error_at(
      ctx, node->start_mark,
      "unknown key '%s'; known keys are name, head_dim, num_q_heads, "
      "num_kv_heads, gqa_ratio, dtype, kv_layout, splits, target, "
      "softmax_scale",
      name.text);
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

/* An integer from 1 to max; `expected` names what the field takes and
 * `others` the values it takes besides the range ("auto or "), for the
 * messages. */
static skv_status skv_field_read_range(const skv_spec_context *ctx,
                                       const skv_field *field,
                                       const char *expected, const char *others,
                                       int max, int *out_value) {
  int64_t value;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_int(ctx, field, expected, &value));
  if (value < 1 || value > max) {
    skv_excerpt text = skv_excerpt_of_scalar(field->value);
    return skv_spec_error_at(ctx, field->value->start_mark,
                             "%s %s is out of range; use %s1 to %d", field->key,
                             text.text, others, max);
  }
  *out_value = (int)value;
  return SKV_OK;
}

/* A count from 1 to max. */
static skv_status skv_field_read_count(const skv_spec_context *ctx,
                                       const skv_field *field, int max,
                                       int *out_value) {
  return skv_field_read_range(ctx, field, "an integer", "", max, out_value);
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
  /* strtod needs a terminated string; the scalar's length is what counts. */
  char *copy = malloc(node->data.scalar.length + 1);
  if (!copy)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                     ctx->file_name);
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
                     ctx->file_name);
  }
  skv_status status = SKV_OK;
  if (field->value->type != YAML_SCALAR_NODE) {
    skv_text expected = {0};
    skv_text_append(&expected, "one of %s", list.data);
    status = expected.failed
                 ? SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                             "%s: error: out of memory", ctx->file_name)
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

/* ---- Keys of a spec. ------------------------------------------------------ */

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

static skv_status skv_spec_read_head_dim(const skv_spec_context *ctx,
                                         const skv_field *field,
                                         skv_spec *spec) {
  int64_t value;
  SKV_RETURN_IF_ERROR_PLAIN(
      skv_field_read_int(ctx, field, "an integer", &value));
  if (value != 64 && value != 96 && value != 128 && value != 256) {
    skv_excerpt text = skv_excerpt_of_scalar(field->value);
    return skv_spec_error_at(
        ctx, field->value->start_mark,
        "head_dim %s is not supported; choose one of 64, 96, 128, 256",
        text.text);
  }
  spec->head_dim = (int)value;
  return SKV_OK;
}

static skv_status skv_spec_read_dtype(const skv_spec_context *ctx,
                                      const skv_field *field, skv_spec *spec) {
  static const char *const names[] = {"bf16", "f16"};
  static const skv_dtype dtypes[] = {SKV_DTYPE_BF16, SKV_DTYPE_F16};
  int index;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_enum(ctx, field, names, 2, &index));
  spec->dtype = dtypes[index];
  return SKV_OK;
}

static skv_status skv_spec_read_kv_layout(const skv_spec_context *ctx,
                                          const skv_field *field,
                                          skv_spec *spec) {
  static const char *const names[] = {"contiguous"};
  if (skv_scalar_is(field->value, "paged"))
    return skv_spec_error_at(ctx, field->value->start_mark,
                             "kv_layout 'paged' is not supported yet");
  int index;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_enum(ctx, field, names, 1, &index));
  spec->kv_layout = SKV_KV_CONTIGUOUS;
  return SKV_OK;
}

static skv_status skv_spec_read_splits(const skv_spec_context *ctx,
                                       const skv_field *field, skv_spec *spec) {
  if (skv_scalar_is(field->value, "auto")) {
    spec->splits = 0;
    return SKV_OK;
  }
  return skv_field_read_range(ctx, field, "'auto' or an integer", "auto or ",
                              SKV_MAX_SPLITS, &spec->splits);
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

static skv_status skv_spec_read_softmax_scale(const skv_spec_context *ctx,
                                              const skv_field *field,
                                              skv_spec *spec) {
  double value = 0.0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_field_read_float(ctx, field, &value));
  /* Checked after the conversion to float: 1e-60 is positive as a double
   * but 0 as the float the kernels use. */
  float scale = (float)value;
  if (!(scale > 0.0f) || !isfinite(scale)) {
    skv_excerpt text = skv_excerpt_of_scalar(field->value);
    return skv_spec_error_at(
        ctx, field->value->start_mark,
        "softmax_scale %s is out of range; it must be a positive float",
        text.text);
  }
  spec->softmax_scale = scale;
  return SKV_OK;
}

static skv_status skv_spec_read_value(const skv_spec_context *ctx,
                                      skv_key key, skv_spec_draft *draft) {
  const skv_field *field = &draft->fields[key];
  skv_spec *spec = &draft->spec;
  switch (key) {
  case SKV_KEY_NAME:
    return skv_spec_read_name(ctx, field, spec);
  case SKV_KEY_HEAD_DIM:
    return skv_spec_read_head_dim(ctx, field, spec);
  case SKV_KEY_NUM_Q_HEADS:
    return skv_field_read_count(ctx, field, SKV_HEADS_MAX, &spec->num_q_heads);
  case SKV_KEY_NUM_KV_HEADS:
    return skv_field_read_count(ctx, field, SKV_HEADS_MAX,
                                &spec->num_kv_heads);
  case SKV_KEY_GQA_RATIO:
    return skv_field_read_count(ctx, field, SKV_HEADS_MAX, &draft->gqa_ratio);
  case SKV_KEY_DTYPE:
    return skv_spec_read_dtype(ctx, field, spec);
  case SKV_KEY_KV_LAYOUT:
    return skv_spec_read_kv_layout(ctx, field, spec);
  case SKV_KEY_SPLITS:
    return skv_spec_read_splits(ctx, field, spec);
  case SKV_KEY_TARGET:
    return skv_spec_read_targets(ctx, field, spec);
  case SKV_KEY_SOFTMAX_SCALE:
    return skv_spec_read_softmax_scale(ctx, field, spec);
  case SKV_KEY_PAGE_SIZE:
    return skv_spec_error_at(ctx, field->key_node->start_mark,
                             "page_size belongs to kv_layout 'paged', which "
                             "is not supported yet");
  case SKV_KEY_COUNT:
    break;
  }
  return SKV_ERROR(SKV_CODE_INTERNAL, "unhandled spec key %d", (int)key);
}

/* ---- Combinations of keys. ------------------------------------------------ */

static bool skv_draft_has(const skv_spec_draft *draft, skv_key key) {
  return draft->fields[key].key_node != NULL;
}

/* Lists every missing required key at the spec mapping's position. Head
 * counts are missing only when the other two keys can't supply them. */
static skv_status skv_spec_check_required(const skv_spec_context *ctx,
                                          const yaml_node_t *mapping,
                                          const skv_spec_draft *draft) {
  bool q = skv_draft_has(draft, SKV_KEY_NUM_Q_HEADS);
  bool kv = skv_draft_has(draft, SKV_KEY_NUM_KV_HEADS);
  bool gqa = skv_draft_has(draft, SKV_KEY_GQA_RATIO);
  const char *missing[SKV_KEY_COUNT];
  int count = 0;
  if (!skv_draft_has(draft, SKV_KEY_NAME))
    missing[count++] = "'name'";
  if (!skv_draft_has(draft, SKV_KEY_HEAD_DIM))
    missing[count++] = "'head_dim'";
  if (gqa && !q && !kv) {
    missing[count++] = "'num_q_heads' or 'num_kv_heads'";
  } else {
    if (!q && !(kv && gqa))
      missing[count++] = kv ? "'num_q_heads' (or 'gqa_ratio')"
                            : "'num_q_heads'";
    if (!kv && !(q && gqa))
      missing[count++] = q ? "'num_kv_heads' (or 'gqa_ratio')"
                           : "'num_kv_heads'";
  }
  if (!skv_draft_has(draft, SKV_KEY_DTYPE))
    missing[count++] = "'dtype'";
  if (!skv_draft_has(draft, SKV_KEY_TARGET))
    missing[count++] = "'target'";
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
                              ctx->file_name)
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
  if (skv_draft_has(draft, SKV_KEY_NUM_KV_HEADS))
    kv_mark = draft->fields[SKV_KEY_NUM_KV_HEADS].value->start_mark;
  if (skv_draft_has(draft, SKV_KEY_GQA_RATIO))
    gqa_mark = draft->fields[SKV_KEY_GQA_RATIO].value->start_mark;

  if (skv_draft_has(draft, SKV_KEY_NUM_Q_HEADS) &&
      skv_draft_has(draft, SKV_KEY_NUM_KV_HEADS)) {
    if (q % kv != 0)
      return skv_spec_error_at(ctx, kv_mark,
                               "num_kv_heads %d does not divide num_q_heads %d",
                               kv, q);
    if (skv_draft_has(draft, SKV_KEY_GQA_RATIO) && gqa != q / kv)
      return skv_spec_error_at(
          ctx, gqa_mark,
          "gqa_ratio %d does not match num_q_heads / num_kv_heads = %d / %d "
          "= %d",
          gqa, q, kv, q / kv);
  } else if (skv_draft_has(draft, SKV_KEY_NUM_Q_HEADS)) {
    if (q % gqa != 0)
      return skv_spec_error_at(ctx, gqa_mark,
                               "gqa_ratio %d does not divide num_q_heads %d",
                               gqa, q);
    spec->num_kv_heads = q / gqa;
  } else {
    /* Both at most SKV_HEADS_MAX: the product fits an int. */
    if (kv * gqa > SKV_HEADS_MAX)
      return skv_spec_error_at(
          ctx, gqa_mark,
          "num_kv_heads %d * gqa_ratio %d = %d query heads is out of range; "
          "at most %d",
          kv, gqa, kv * gqa, SKV_HEADS_MAX);
    spec->num_q_heads = kv * gqa;
  }
  return SKV_OK;
}

/* ---- Specs, documents, files. --------------------------------------------- */

static skv_status skv_spec_read_mapping(const skv_spec_context *ctx,
                                        yaml_node_t *mapping,
                                        skv_spec *out_spec) {
  skv_spec_draft draft = {0};
  draft.spec.kv_layout = SKV_KV_CONTIGUOUS;
  draft.spec.splits = 0; /* auto */
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
  if (!skv_draft_has(&draft, SKV_KEY_SOFTMAX_SCALE))
    draft.spec.softmax_scale = (float)(1.0 / sqrt((double)draft.spec.head_dim));
  snprintf(draft.spec.file, sizeof draft.spec.file, "%s", ctx->file_name);
  *out_spec = draft.spec;
  return SKV_OK;
}

/* The specs read so far from one file. */
typedef struct skv_spec_builder {
  skv_spec *specs;
  int count;
  int capacity;
} skv_spec_builder;

static skv_status skv_spec_builder_add(const skv_spec_context *ctx,
                                       skv_spec_builder *builder,
                                       const skv_spec *spec) {
  for (int i = 0; i < builder->count; i++) {
    const skv_spec *first = &builder->specs[i];
    if (strcmp(first->name, spec->name) == 0) {
      yaml_mark_t mark = {.line = (size_t)spec->line - 1,
                          .column = (size_t)spec->column - 1};
      return skv_spec_error_at(ctx, mark,
                               "duplicate spec name '%s'; first defined at "
                               "%s:%d:%d",
                               spec->name, ctx->file_name, first->line,
                               first->column);
    }
  }
  if (builder->count == builder->capacity) {
    if (builder->capacity > INT_MAX / 2)
      return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: too many specs",
                       ctx->file_name);
    int capacity = builder->capacity ? 2 * builder->capacity : 4;
    skv_spec *specs = realloc(builder->specs, (size_t)capacity * sizeof *specs);
    if (!specs)
      return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                       ctx->file_name);
    builder->specs = specs;
    builder->capacity = capacity;
  }
  builder->specs[builder->count++] = *spec;
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
      .file_name = file_name,
      .text = (const unsigned char *)(text ? text : ""),
      .size = text ? size : 0,
  };
  SKV_RETURN_IF_ERROR_PLAIN(skv_spec_check_nesting(&ctx));
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: error: out of memory",
                     file_name);
  yaml_parser_set_input_string(&parser, ctx.text, ctx.size);

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

/* Reads a whole file into a heap buffer (pipes and /dev/stdin included, so
 * no size is asked up front). */
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
  /* Check everything before changing dst: on failure it is left as it was. */
  for (int i = 0; i < src->count; i++) {
    for (int j = 0; j < dst->count; j++)
      if (strcmp(src->specs[i].name, dst->specs[j].name) == 0)
        return skv_spec_duplicate_error(&src->specs[i], &dst->specs[j]);
    for (int j = 0; j < i; j++)
      if (strcmp(src->specs[i].name, src->specs[j].name) == 0)
        return skv_spec_duplicate_error(&src->specs[i], &src->specs[j]);
  }
  if (src->count == 0)
    return SKV_OK;
  if (dst->count > INT_MAX - src->count)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "skv_spec_list_append: too many specs");
  size_t count = (size_t)dst->count + (size_t)src->count;
  skv_spec *specs = realloc(dst->specs, count * sizeof *specs);
  if (!specs)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                     "skv_spec_list_append: out of memory");
  memcpy(specs + dst->count, src->specs, (size_t)src->count * sizeof *specs);
  dst->specs = specs;
  dst->count = (int)count;
  return SKV_OK;
}
