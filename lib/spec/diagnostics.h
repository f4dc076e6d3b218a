/* The spec parser's diagnostics engine: messages that grow in a heap
 * buffer, input values echoed as bounded one-line excerpts, positions in
 * the source turned into "file:line:col: error: message" with the source
 * line and a caret under the column, and the nearest known word for a typo.
 * Knows nothing of YAML or of specs. Internal to lib/spec. */
#ifndef SPLITKV_SPEC_DIAGNOSTICS_H
#define SPLITKV_SPEC_DIAGNOSTICS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "splitkv/status.h"

/* ---- A growing text buffer for messages. --------------------------------- */

typedef struct skv_text {
  char *data; /* NUL-terminated once anything was appended; owned */
  size_t length;
  size_t capacity;
  bool failed; /* an allocation failed; the message becomes out-of-memory */
} skv_text;

void skv_text_append_bytes(skv_text *text, const char *bytes, size_t count);
void skv_text_append_char(skv_text *text, char c);
void skv_text_vappend(skv_text *text, const char *fmt, va_list args);
void skv_text_append(skv_text *text, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Turns the finished message into a status of the given code (or
 * OUT_OF_MEMORY if an append failed) and frees the buffer. */
skv_status skv_text_to_status(skv_text *text, skv_status_code code);

/* ---- Input values in messages. -------------------------------------------- */

/* Input values can be huge or hold control bytes; a message shows at most
 * SKV_EXCERPT_BYTES of one, printable ASCII kept and the rest as \xNN, so a
 * message stays one readable line. */
#define SKV_EXCERPT_BYTES 48

typedef struct skv_excerpt {
  char text[4 * SKV_EXCERPT_BYTES + 32];
} skv_excerpt;

skv_excerpt skv_excerpt_of_bytes(const unsigned char *bytes, size_t length);

/* ---- Positions in the source. --------------------------------------------- */

/* The text being parsed (borrowed), to quote lines from. */
typedef struct skv_source {
  const char *file_name;
  const unsigned char *text;
  size_t size;
} skv_source;

/* A 0-based line and character (not byte) column, as libyaml counts them:
 * a UTF-8 byte order mark is skipped, and \r\n, \n, \r, NEL, LS and PS
 * each end a line. */
typedef struct skv_mark {
  size_t line;
  size_t column;
} skv_mark;

/* The mark of a byte offset (libyaml's reader errors give only that). */
skv_mark skv_source_mark_at(const skv_source *src, size_t offset);

/* The one way a spec error is made: PARSE_ERROR "file:line:col: error:
 * message", then the source line (control bytes as '?', a long line cut to
 * a window around the mark) and a caret under the mark. */
skv_status skv_source_error_at(const skv_source *src, skv_mark mark, const char *fmt,
                               ...) __attribute__((format(printf, 3, 4)));

/* ---- Typos. -------------------------------------------------------------------- */

/* The word of words[0..count) nearest to the input (length bytes) by edit
 * distance with ASCII case folded, or NULL when none is near enough to be
 * a plausible typo (2 edits, or a third of the word). */
const char *skv_nearest_word(const unsigned char *input, size_t length,
                             const char *const *words, int count);

#endif /* SPLITKV_SPEC_DIAGNOSTICS_H */
