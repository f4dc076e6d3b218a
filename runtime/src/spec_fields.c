/* The checks and text forms of spec_fields.h's types: what the package
 * verifier accepts and what splitkv-inspect shows, for every field. */
#include "splitkv/spec_fields.h"

#include "splitkv/kernel_abi.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define INVALID(...) SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, __VA_ARGS__)

uint32_t skv_field_f32_bits(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float skv_field_f32_value(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof(value));
  return value;
}

const char *skv_kernel_role_name(skv_kernel_role role) {
  switch (role) { SKV_KERNEL_ROLES(SKV_ENUM_NAME_CASE) }
  return "unknown";
}

skv_status skv_field_check_COUNT(const char *key, int value, int min, int max) {
  if (value < min || value > max)
    return INVALID("%s %d is not in [%d, %d]", key, value, min, max);
  return SKV_OK;
}

skv_status skv_field_check_HEAD_DIM(const char *key, int value, int min, int max) {
#define SKV_HEAD_DIM_IS(d) value == d ||
  if (SKV_HEAD_DIMS(SKV_HEAD_DIM_IS) 0)
    return SKV_OK;
#undef SKV_HEAD_DIM_IS
  return INVALID("%s %d is not a head dim the generator builds", key, value);
}

skv_status skv_field_check_SPLITS(const char *key, int value, int min, int max) {
  if (value != 0 && (value < min || value > max))
    return INVALID("%s %d is neither 0 (auto) nor in [%d, %d]", key, value, min, max);
  return SKV_OK;
}

skv_status skv_field_check_DTYPE(const char *key, skv_dtype value, int min, int max) {
  if (strcmp(skv_dtype_name(value), "unknown") == 0)
    return INVALID("%s %d is not an element type", key, (int)value);
  return SKV_OK;
}

skv_status skv_field_check_KV_LAYOUT(const char *key, skv_kv_layout value, int min,
                                     int max) {
  if (strcmp(skv_kv_layout_name(value), "unknown") == 0)
    return INVALID("%s %d is not a KV cache layout", key, (int)value);
  return SKV_OK;
}

skv_status skv_field_check_SCALE(const char *key, float value, int min, int max) {
  if (!isfinite(value) || !(value > 0.0f))
    return INVALID("%s %g is not a finite positive number", key, (double)value);
  return SKV_OK;
}

static void show_word(const char *word, int json, char *out, int size) {
  snprintf(out, (size_t)size, json ? "\"%s\"" : "%s", word);
}

void skv_field_show_COUNT(int value, int json, char *out, int size) {
  snprintf(out, (size_t)size, "%d", value);
}

void skv_field_show_HEAD_DIM(int value, int json, char *out, int size) {
  snprintf(out, (size_t)size, "%d", value);
}

void skv_field_show_SPLITS(int value, int json, char *out, int size) {
  if (value == 0)
    show_word("auto", json, out, size);
  else
    snprintf(out, (size_t)size, "%d", value);
}

void skv_field_show_DTYPE(skv_dtype value, int json, char *out, int size) {
  show_word(skv_dtype_name(value), json, out, size);
}

void skv_field_show_KV_LAYOUT(skv_kv_layout value, int json, char *out, int size) {
  show_word(skv_kv_layout_name(value), json, out, size);
}

void skv_field_show_SCALE(float value, int json, char *out, int size) {
  snprintf(out, (size_t)size, json ? "%.9g" : "%g", (double)value);
}

/* The integer types whose 0 means none: 0, or in [min, max]; shown as
 * "none" or the number. */
static skv_status check_none_or_range(const char *key, int value, int min, int max,
                                      const char *none) {
  if (value != 0 && (value < min || value > max))
    return INVALID("%s %d is neither 0 (%s) nor in [%d, %d]", key, value, none, min, max);
  return SKV_OK;
}

static void show_none_or_int(int value, int json, char *out, int size) {
  if (value == 0)
    show_word("none", json, out, size);
  else
    snprintf(out, (size_t)size, "%d", value);
}

skv_status skv_field_check_PAGE_SIZE(const char *key, int value, int min, int max) {
  return check_none_or_range(key, value, min, max, "no pages");
}

void skv_field_show_PAGE_SIZE(int value, int json, char *out, int size) {
  show_none_or_int(value, json, out, size);
}

skv_status skv_fields_check_combination(int num_q_heads, int num_kv_heads,
                                        skv_kv_layout kv_layout, int page_size) {
  if (num_q_heads % num_kv_heads != 0)
    return INVALID("num_kv_heads %d does not divide num_q_heads %d", num_kv_heads,
                   num_q_heads);
  if (num_q_heads / num_kv_heads > SKV_MAX_GQA_GROUP)
    return INVALID("a GQA group of %d q heads per kv head (%d / %d) is more than the %d the "
                   "kernels take",
                   num_q_heads / num_kv_heads, num_q_heads, num_kv_heads, SKV_MAX_GQA_GROUP);
  if ((kv_layout == SKV_KV_PAGED) != (page_size > 0))
    return INVALID("kv_layout %s with page_size %d: a paged cache needs a page_size, a "
                   "contiguous one has none",
                   skv_kv_layout_name(kv_layout), page_size);
  return SKV_OK;
}

skv_status skv_field_check_CAP(const char *key, float value, int min, int max) {
  if (value == 0.0f)
    return SKV_OK;
  return skv_field_check_SCALE(key, value, min, max);
}

void skv_field_show_CAP(float value, int json, char *out, int size) {
  if (value == 0.0f)
    show_word("none", json, out, size);
  else
    skv_field_show_SCALE(value, json, out, size);
}

skv_status skv_field_check_WINDOW(const char *key, int value, int min, int max) {
  return check_none_or_range(key, value, min, max, "no window");
}

void skv_field_show_WINDOW(int value, int json, char *out, int size) {
  show_none_or_int(value, json, out, size);
}
