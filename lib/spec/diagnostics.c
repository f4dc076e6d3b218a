/* The spec parser's diagnostics engine (diagnostics.h). */
#include "diagnostics.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- A growing text buffer for messages. --------------------------------- */

void skv_text_append_bytes(skv_text *text, const char *bytes,
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

void skv_text_append_char(skv_text *text, char c) {
  skv_text_append_bytes(text, &c, 1);
}

void skv_text_vappend(skv_text *text, const char *fmt, va_list args) {
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

void skv_text_append(skv_text *text, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  skv_text_vappend(text, fmt, args);
  va_end(args);
}

/* Turns the finished message into a status of the given code and frees the
 * buffer. */
skv_status skv_text_to_status(skv_text *text, skv_status_code code) {
  skv_status status =
      text->failed ? SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                               "out of memory while reporting a spec error")
                   : SKV_ERROR(code, "%s", text->data ? text->data : "");
  free(text->data);
  *text = (skv_text){0};
  return status;
}

/* ---- Echoing input values in messages. ------------------------------------ */

skv_excerpt skv_excerpt_of_bytes(const unsigned char *bytes,
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

/* ---- Positions in the source. --------------------------------------------- */

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
static size_t skv_source_start(const skv_source *src) {
  if (src->size >= 3 && memcmp(src->text, "\xef\xbb\xbf", 3) == 0)
    return 3;
  return 0;
}

static bool skv_is_utf8_continuation(unsigned char c) {
  return (c & 0xc0) == 0x80;
}

/* The byte range of 0-based line `line`; empty past the end of the text. */
static void skv_source_find_line(const skv_source *src, size_t line,
                                 size_t *out_start, size_t *out_length) {
  size_t i = skv_source_start(src);
  for (size_t current = 0; current < line && i < src->size;) {
    size_t width = skv_line_break_width(src->text, src->size, i);
    i += width ? width : 1;
    current += width ? 1 : 0;
  }
  size_t end = i;
  while (end < src->size && !skv_line_break_width(src->text, src->size, end))
    end++;
  *out_start = i;
  *out_length = end - i;
}

/* The mark (0-based line and character column) of a byte offset, for
 * libyaml's reader errors, which give only the offset. */
skv_mark skv_source_mark_at(const skv_source *src,
                                      size_t offset) {
  skv_mark mark = {0};
  size_t i = skv_source_start(src);
  while (i < offset && i < src->size) {
    size_t width = skv_line_break_width(src->text, src->size, i);
    if (width) {
      mark.line++;
      mark.column = 0;
      i += width;
    } else {
      mark.column += skv_is_utf8_continuation(src->text[i]) ? 0 : 1;
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
static void skv_text_append_source(skv_text *text, const skv_source *src,
                                   skv_mark mark) {
  size_t start, length;
  skv_source_find_line(src, mark.line, &start, &length);
  const unsigned char *line = src->text + start;
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

skv_status skv_source_error_at(const skv_source *src, skv_mark mark,
                               const char *fmt, ...) {
  skv_text text = {0};
  skv_text_append(&text, "%s:%zu:%zu: error: ", src->file_name,
                  mark.line + 1, mark.column + 1);
  va_list args;
  va_start(args, fmt);
  skv_text_vappend(&text, fmt, args);
  va_end(args);
  skv_text_append_source(&text, src, mark);
  return skv_text_to_status(&text, SKV_CODE_PARSE_ERROR);
}

/* ---- Typos. ------------------------------------------------------------------ */

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

const char *skv_nearest_word(const unsigned char *input, size_t length,
                             const char *const *words, int count) {
  const char *best = NULL;
  size_t best_distance = SIZE_MAX;
  for (int k = 0; k < count; k++) {
    size_t known = strlen(words[k]);
    /* The distance is at least the length difference: skip long inputs
     * early, which also bounds the work on huge keys. */
    if (length > known + 4)
      continue;
    size_t distance = skv_edit_distance(input, length, words[k]);
    if (distance < best_distance) {
      best_distance = distance;
      best = words[k];
    }
  }
  if (best && (best_distance <= 2 || 3 * best_distance <= strlen(best)))
    return best;
  return NULL;
}
