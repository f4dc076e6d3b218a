/* The names splitkv's spec, package and runtime share: element types, code
 * image kinds, the limit on names, and SKV_API, which marks every function
 * the runtime library exports.
 *
 * Public: installed with runtime.h and status.h. */
#ifndef SPLITKV_TYPES_H
#define SPLITKV_TYPES_H

#ifdef __cplusplus
extern "C" {
#endif

/* The runtime is built with hidden visibility; this marks its API. */
#define SKV_API __attribute__((visibility("default")))

/* Spec names and the kernel names built from them, with their NUL. */
#define SKV_NAME_MAX 64

/* splitkv's enumerations are lists X(enumerator, name, value), from which
 * the enum (SKV_ENUM_VALUE), its name function (SKV_ENUM_NAME_CASE in a
 * switch) and the spec parser's words are expanded. */
#define SKV_ENUM_VALUE(enumerator, name, value) enumerator = value,
#define SKV_ENUM_NAME_CASE(enumerator, name, value)                           \
  case enumerator:                                                             \
    return #name;

/* Element types of q, k, v and the output. */
#define SKV_DTYPES(X)                                                          \
  X(SKV_DTYPE_BF16, bf16, 1)                                                   \
  X(SKV_DTYPE_F16, f16, 2)

typedef enum skv_dtype { SKV_DTYPES(SKV_ENUM_VALUE) } skv_dtype;

/* Code images of a package: PTX is compiled by the driver's JIT when
 * loaded; a cubin is machine code for one GPU family. */
#define SKV_IMAGE_KINDS(X)                                                     \
  X(SKV_IMAGE_PTX, ptx, 1)                                                     \
  X(SKV_IMAGE_CUBIN, cubin, 2)

typedef enum skv_image_kind { SKV_IMAGE_KINDS(SKV_ENUM_VALUE) } skv_image_kind;

/* How a spec's KV cache is laid out: contiguous (strided [batch, token,
 * head, dim]) or in pages of page_size tokens. */
#define SKV_KV_LAYOUTS(X)                                                      \
  X(SKV_KV_CONTIGUOUS, contiguous, 1)                                          \
  X(SKV_KV_PAGED, paged, 2)

typedef enum skv_kv_layout { SKV_KV_LAYOUTS(SKV_ENUM_VALUE) } skv_kv_layout;

/* "bf16", "f16"; "unknown" for any other value. A static string. */
SKV_API const char *skv_dtype_name(skv_dtype dtype);

/* "ptx", "cubin"; "unknown" for any other value. A static string. */
SKV_API const char *skv_image_kind_name(skv_image_kind kind);

/* "contiguous", "paged"; "unknown" for any other value. A static string. */
SKV_API const char *skv_kv_layout_name(skv_kv_layout layout);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_TYPES_H */
