/* The names of types.h's enumerations, from their lists. */
#include "splitkv/types.h"

const char *skv_dtype_name(skv_dtype dtype) {
  switch (dtype) { SKV_DTYPES(SKV_ENUM_NAME_CASE) }
  return "unknown";
}

const char *skv_image_kind_name(skv_image_kind kind) {
  switch (kind) { SKV_IMAGE_KINDS(SKV_ENUM_NAME_CASE) }
  return "unknown";
}

const char *skv_kv_layout_name(skv_kv_layout layout) {
  switch (layout) { SKV_KV_LAYOUTS(SKV_ENUM_NAME_CASE) }
  return "unknown";
}
