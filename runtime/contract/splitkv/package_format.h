/* The kernel package format (version 5): one file holding, for each spec,
 * its manifest record and its code images: per target a cubin (machine code,
 * ready to load) and/or PTX (which the driver JIT-compiles for GPUs newer
 * than any cubin), each with what the PTX compiler reported for its kernels
 * (registers, shared memory, stack, spills).
 * Version 3: one kernel per spec (the chunk merge moved into it).
 * Version 4: two again, the split kernel and the LSE combine kernel, which
 * programmatic dependent launch starts while the split kernel runs.
 * Version 5: the split kernel's wide launch (split_threads_wide, and its
 * kernel's resources in the image record).
 *
 * The compiler writes it (lib/package), the runtime reads it (runtime/src);
 * both use the encode/decode functions below, so the byte layout is defined
 * in exactly one place (runtime/src/package_format.c). All integers are
 * little-endian; strings are fixed-size, NUL-padded fields.
 *
 *   header    magic "SKVPACK\0", format version, kernel ABI version, file
 *             size, FNV-1a 64 checksum of every byte after the header, counts
 *             and offsets of the two tables, compiler version
 *   specs     spec_count records (skv_pkg_spec)
 *   images    image_count records (skv_pkg_image), each spec's sorted by
 *             (kind, sm) and unique in it
 *   blobs     the images' bytes (PTX includes its terminating NUL; a cubin
 *             is an ELF file), 16-byte aligned
 *
 * Version 2 added the per-kernel resources to the image record. */
#ifndef SPLITKV_PACKAGE_FORMAT_H
#define SPLITKV_PACKAGE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "splitkv/status.h"
#include "splitkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SKV_PACKAGE_MAGIC "SKVPACK"          /* 8 bytes with its NUL */
#define SKV_PACKAGE_FORMAT_VERSION 5u
#define SKV_ENTRY_MAX 96                     /* kernel entry names, with NUL */
#define SKV_WIDE_SUFFIX "_wide"              /* split_entry + this: the wide
                                                launch's kernel */
#define SKV_WIDE_ENTRY_MAX (SKV_ENTRY_MAX + sizeof(SKV_WIDE_SUFFIX) - 1)

typedef struct skv_pkg_header {
  uint32_t format_version;
  uint32_t abi_version;
  uint64_t file_size;
  uint64_t checksum;
  uint32_t spec_count;
  uint32_t image_count;
  uint64_t specs_offset;
  uint64_t images_offset;
  char compiler_version[32];
} skv_pkg_header;

/* One spec's manifest: its attention layout and how to launch its kernels. */
typedef struct skv_pkg_spec {
  char name[SKV_NAME_MAX];
  uint32_t head_dim;
  uint32_t num_q_heads;
  uint32_t num_kv_heads;
  uint32_t dtype;           /* skv_dtype */
  uint32_t splits;          /* 0 = auto */
  float softmax_scale;
  char split_entry[SKV_ENTRY_MAX];
  char combine_entry[SKV_ENTRY_MAX];
  uint32_t split_threads;      /* a narrow launch: two CTAs per SM */
  uint32_t split_threads_wide; /* 0, or 2 * split_threads: the wide
                                  launch's kernel, split_entry + "_wide",
                                  one CTA per SM with twice the token
                                  streams (kernel_abi.h) */
  uint32_t split_smem_bytes;
  uint32_t combine_threads;
  uint32_t tokens_per_step; /* KV tokens one narrow split CTA consumes per
                               loop step (twice that in a wide launch) */
  uint32_t first_image;     /* this spec's images: [first_image, +image_count) */
  uint32_t image_count;
} skv_pkg_spec;

/* What the PTX compiler (ptxas, in nvJitLink) reported for one kernel
 * compiled for an image's target: for a cubin, the code it holds; for PTX,
 * what compiling that PTX for its own sm gives (the driver's JIT is the same
 * compiler). All zero when unknown. */
typedef struct skv_pkg_kernel_resources {
  uint32_t registers;         /* per thread, at most SKV_PKG_MAX_REGISTERS */
  uint32_t shared_bytes;      /* static shared memory per block */
  uint32_t stack_bytes;       /* local memory per thread (stack frame) */
  uint32_t spill_store_bytes; /* bytes stored to local memory by spills */
  uint32_t spill_load_bytes;  /* bytes loaded back */
} skv_pkg_kernel_resources;

/* One code image: a module holding a spec's kernels for one target. */
typedef struct skv_pkg_image {
  uint32_t kind;            /* skv_image_kind */
  uint32_t sm;              /* 80, 86, 89, 90 */
  uint64_t offset;          /* bytes from the start of the file */
  uint64_t size;
  skv_pkg_kernel_resources split;      /* the spec's split_entry */
  skv_pkg_kernel_resources combine;    /* the spec's combine_entry */
  skv_pkg_kernel_resources split_wide; /* split_entry + "_wide" (zero
                                          without a wide launch) */
} skv_pkg_image;

/* Encoded sizes in bytes. */
#define SKV_PKG_HEADER_SIZE 88u
#define SKV_PKG_SPEC_SIZE 308u
#define SKV_PKG_IMAGE_SIZE 84u

/* Bounds skv_pkg_image_check applies to the resources: the hardware's
 * register limit, more shared memory than any GPU gives a block, and CUDA's
 * per-thread local memory limit (for the stack and the spill counts). */
#define SKV_PKG_MAX_REGISTERS 255u
#define SKV_PKG_MAX_SHARED_BYTES (256u * 1024u)
#define SKV_PKG_MAX_LOCAL_BYTES (512u * 1024u)

/* FNV-1a 64 of size bytes. */
uint64_t skv_pkg_checksum(const void *data, size_t size);

/* Encoders write exactly the encoded size into out (the caller's buffer). */
void skv_pkg_header_encode(const skv_pkg_header *header, uint8_t *out);
void skv_pkg_spec_encode(const skv_pkg_spec *spec, uint8_t *out);
void skv_pkg_image_encode(const skv_pkg_image *image, uint8_t *out);

/* The combine kernel's CTAs per output row (kernel_abi.h) at `lanes` lanes
 * per slice of 8 dims: head_dim / 8 slices over combine_threads / lanes
 * slices per CTA. Only for a record that passed skv_pkg_spec_check and a
 * power of two lanes <= 32 whose slices per CTA divide head_dim / 8 (at 32
 * lanes they always do). */
uint32_t skv_pkg_spec_combine_row_ctas(const skv_pkg_spec *spec, uint32_t lanes);

/* The wide launch's split kernel entry, split_entry + SKV_WIDE_SUFFIX, into
 * out (SKV_WIDE_ENTRY_MAX bytes, the caller's). Only for a record with
 * split_threads_wide > 0 that passed skv_pkg_spec_check. */
void skv_pkg_spec_split_wide_entry(const skv_pkg_spec *spec, char *out);

/* Checks one spec record's own fields, as skv_pkg_verify does for each
 * record (not its image range, which needs the header): NUL-terminated,
 * non-empty name and entry names; dtype; head_dim a multiple of 8 in
 * [8, 1024]; heads in [1, 65535] with num_kv_heads dividing num_q_heads;
 * splits <= SKV_MAX_SPLITS; a finite softmax_scale > 0; threads in
 * [1, 1024], split_threads_wide 0 or twice split_threads; tokens_per_step
 * in [1, 65536]; combine_threads whole warps that divide the head_dim / 8
 * slices. The package writer calls it before accepting a record.
 * Errors: SKV_CODE_CORRUPT_PACKAGE naming the field and the value. */
skv_status skv_pkg_spec_check(const skv_pkg_spec *spec);

/* Checks one image record's own fields, as skv_pkg_verify does for each
 * record (not its bytes' bounds, which need the file): kind ptx or cubin; sm
 * in [10, 999]; each kernel's resources within the SKV_PKG_MAX_* bounds. The
 * package writer calls it before accepting an image. Errors:
 * SKV_CODE_CORRUPT_PACKAGE naming the field and the value. */
skv_status skv_pkg_image_check(const skv_pkg_image *image);

/* Verifies a whole package in memory (borrowed, size bytes) and decodes its
 * header: magic, format and ABI versions, file size, checksum, table bounds,
 * every spec's fields and image ranges (no two images of one spec with the
 * same kind and sm), every image's fields and bounds (PTX NUL-terminated, a
 * cubin starting with the ELF magic), and NUL-terminated strings. Errors: SKV_CODE_CORRUPT_PACKAGE naming the field
 * and the offending value. */
skv_status skv_pkg_verify(const uint8_t *data, size_t size,
                          skv_pkg_header *out_header);

/* Decode record i of a package that skv_pkg_verify accepted. */
void skv_pkg_spec_decode(const uint8_t *data, const skv_pkg_header *header,
                         uint32_t i, skv_pkg_spec *out_spec);
void skv_pkg_image_decode(const uint8_t *data, const skv_pkg_header *header,
                          uint32_t i, skv_pkg_image *out_image);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_PACKAGE_FORMAT_H */
