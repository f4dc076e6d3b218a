/* The names of types.h's enumerations, from their X-macros. */
#include "splitkv/types.h"

const char *skv_dtype_name(skv_dtype dtype) {
  switch (dtype) {
#define SKV_DTYPE_CASE(id, name, value)                                        \
  case SKV_DTYPE_##id:                                                         \
    return #name;
    SKV_DTYPES(SKV_DTYPE_CASE)
#undef SKV_DTYPE_CASE
  }
  return "unknown";
}

const char *skv_image_kind_name(skv_image_kind kind) {
  switch (kind) {
#define SKV_IMAGE_KIND_CASE(id, name, value)                                   \
  case SKV_IMAGE_##id:                                                         \
    return #name;
    SKV_IMAGE_KINDS(SKV_IMAGE_KIND_CASE)
#undef SKV_IMAGE_KIND_CASE
  }
  return "unknown";
}
