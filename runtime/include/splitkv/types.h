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

/* Element types of q, k, v and the output: X(ENUM, name, value). */
#define SKV_DTYPES(X)                                                          \
  X(BF16, bf16, 1)                                                             \
  X(F16, f16, 2)

typedef enum skv_dtype {
#define SKV_DTYPE_ENUM(id, name, value) SKV_DTYPE_##id = value,
  SKV_DTYPES(SKV_DTYPE_ENUM)
#undef SKV_DTYPE_ENUM
} skv_dtype;

/* Code images of a package: X(ENUM, name, value). PTX is compiled by the
 * driver's JIT when loaded; a cubin is machine code for one GPU family. */
#define SKV_IMAGE_KINDS(X)                                                     \
  X(PTX, ptx, 1)                                                               \
  X(CUBIN, cubin, 2)

typedef enum skv_image_kind {
#define SKV_IMAGE_KIND_ENUM(id, name, value) SKV_IMAGE_##id = value,
  SKV_IMAGE_KINDS(SKV_IMAGE_KIND_ENUM)
#undef SKV_IMAGE_KIND_ENUM
} skv_image_kind;

/* "bf16", "f16"; "unknown" for any other value. A static string. */
SKV_API const char *skv_dtype_name(skv_dtype dtype);

/* "ptx", "cubin"; "unknown" for any other value. A static string. */
SKV_API const char *skv_image_kind_name(skv_image_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_TYPES_H */
