/* The kernel package format (version 6): one file holding, for each spec,
 * its fields, its kernels and its code images (per target a cubin, machine
 * code ready to load, and/or PTX, which the driver JIT-compiles for GPUs
 * newer than any cubin), with what the PTX compiler reported for each
 * kernel of each image (registers, shared memory, stack, spills).
 *
 * The compiler writes it (lib/package), the runtime reads it (runtime/src);
 * both use the encode/decode functions below, so the byte layout is defined
 * in exactly one place (runtime/src/package_format.c). All integers are
 * little-endian; strings are fixed-size, NUL-padded fields. The tables
 * follow each other without gaps, in this order, and each spec owns a
 * consecutive run of kernel and image records, each image a run of
 * resource records (one per kernel of its spec, in the spec's order):
 *
 *   header     magic "SKVPACK\0", format and kernel ABI versions, file
 *              size, FNV-1a 64 checksum of the whole file (this field read
 *              as zero), counts and offsets of the four tables, compiler
 *              version
 *   specs      spec_count records (skv_pkg_spec): name, fields as (id,
 *              value) pairs (spec_fields.h), kernel and image ranges
 *   kernels    kernel_count records (skv_kernel_desc): role, block size,
 *              dynamic shared memory, tokens per loop step, entry name
 *   images     image_count records (skv_pkg_image), each spec's sorted by
 *              (kind, sm) and unique in it
 *   resources  resource_count records (skv_kernel_resources)
 *   blobs      the images' bytes in image order, each 16-byte aligned
 *              (zeros between them; PTX includes its terminating NUL, a
 *              cubin is an ELF file), the last one ending the file
 *
 * Version 6: the kernel set and the spec's fields became tables (any
 * number of kernels per spec; fields by id, so a field added later reads
 * as its fallback), and the checksum covers the header. */
#ifndef SPLITKV_PACKAGE_FORMAT_H
#define SPLITKV_PACKAGE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "splitkv/kernel_abi.h"
#include "splitkv/spec_fields.h"
#include "splitkv/status.h"
#include "splitkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SKV_PACKAGE_MAGIC "SKVPACK"   /* 8 bytes with its NUL */
#define SKV_PACKAGE_FORMAT_VERSION 6u
#define SKV_PKG_FIELD_SLOTS 16        /* (id, value) pairs per spec record */

typedef struct skv_pkg_header {
  uint32_t format_version;
  uint32_t abi_version;
  uint64_t file_size;
  uint64_t checksum;
  uint32_t spec_count;
  uint32_t kernel_count;
  uint32_t image_count;
  uint32_t resource_count;
  uint64_t specs_offset;
  uint64_t kernels_offset;
  uint64_t images_offset;
  uint64_t resources_offset;
  char compiler_version[32];
} skv_pkg_header;

/* One spec: its name and fields (the same members as the compiler's
 * skv_spec, spec_fields.h), and which kernels and images are its. */
typedef struct skv_pkg_spec {
  char name[SKV_NAME_MAX];
  SKV_SPEC_FIELDS(SKV_SPEC_FIELD_MEMBER)
  uint32_t first_kernel; /* its kernels: [first_kernel, +kernel_count) */
  uint32_t kernel_count;
  uint32_t first_image;  /* its images: [first_image, +image_count) */
  uint32_t image_count;
} skv_pkg_spec;

/* One code image: a module holding a spec's kernels for one target. */
typedef struct skv_pkg_image {
  uint32_t kind;           /* skv_image_kind */
  uint32_t sm;             /* e.g. 90 */
  uint64_t offset;         /* bytes from the start of the file */
  uint64_t size;
  uint32_t first_resource; /* its kernels' resources: [first_resource,
                              +resource_count), in the spec's kernel order */
  uint32_t resource_count; /* the spec's kernel_count */
} skv_pkg_image;

/* Encoded sizes in bytes. */
#define SKV_PKG_HEADER_SIZE 112u
#define SKV_PKG_SPEC_SIZE (SKV_NAME_MAX + 8u * SKV_PKG_FIELD_SLOTS + 16u)
#define SKV_PKG_KERNEL_SIZE (16u + SKV_ENTRY_MAX)
#define SKV_PKG_IMAGE_SIZE 32u
#define SKV_PKG_RESOURCES_SIZE 20u
/* Blobs start at multiples of this, so a reader may map them in place. */
#define SKV_PKG_BLOB_ALIGN 16u

/* Bounds the checks apply: threads and shared memory per block, the
 * hardware's register limit, CUDA's per-thread local memory limit (for the
 * stack and the spill counts), and what a split kernel's CTA takes per
 * loop step. */
#define SKV_PKG_MAX_THREADS 1024u
#define SKV_PKG_MAX_REGISTERS 255u
#define SKV_PKG_MAX_SHARED_BYTES (256u * 1024u)
#define SKV_PKG_MAX_LOCAL_BYTES (512u * 1024u)
#define SKV_PKG_MAX_TOKENS_PER_STEP 65536u

/* The most a package holds, far above what a real one needs (one spec per
 * model shape, two images per target), so that the verifier's work stays
 * bounded on any input (it is linear in the tables, plus a sort of the
 * names) and a hostile header is refused before any record is read. The
 * package writer refuses to go past them. */
#define SKV_PKG_MAX_SPECS 65536u
#define SKV_PKG_MAX_IMAGES 64u /* per spec: two kinds for 32 targets */

/* FNV-1a 64 of size bytes, and of a whole package as its header records
 * it: every byte, the checksum field read as zero. */
uint64_t skv_pkg_checksum(const void *data, size_t size);
uint64_t skv_pkg_file_checksum(const uint8_t *package, size_t size);

/* Encoders write exactly the encoded size into out (the caller's buffer). */
void skv_pkg_header_encode(const skv_pkg_header *header, uint8_t *out);
void skv_pkg_spec_encode(const skv_pkg_spec *spec, uint8_t *out);
void skv_pkg_kernel_encode(const skv_kernel_desc *kernel, uint8_t *out);
void skv_pkg_image_encode(const skv_pkg_image *image, uint8_t *out);
void skv_pkg_resources_encode(const skv_kernel_resources *resources, uint8_t *out);

/* The combine kernel's CTAs per output row (kernel_abi.h) at `lanes` lanes
 * per slice of 8 dims: head_dim / 8 slices over combine_threads / lanes
 * slices per CTA. Only for kernels that passed skv_pkg_kernels_check and a
 * power of two lanes <= 32 whose slices per CTA divide head_dim / 8 (at 32
 * lanes they always do). */
uint32_t skv_pkg_combine_row_ctas(uint32_t head_dim, uint32_t combine_threads,
                                  uint32_t lanes);

/* Checks one spec record's own fields, as skv_pkg_verify does for each
 * record (not its ranges, which need the header): a NUL-terminated,
 * non-empty name; every field of SKV_SPEC_FIELDS by its type's check;
 * num_kv_heads dividing num_q_heads. The package writer calls it before
 * accepting a record. Errors: CORRUPT_PACKAGE naming the field and the
 * value. */
skv_status skv_pkg_spec_check(const skv_pkg_spec *spec);

/* The largest decode call the runtime plans: batch up to the split grid's
 * z limit (plan.c refuses more), max_seqlen up to INT32_MAX tokens, up to
 * SKV_MAX_SPLITS chunks a sequence. */
#define SKV_PKG_MAX_CALL_BATCH 65535

/* Checks that the runtime can size every call of a spec of these heads,
 * head_dim and sliding window (0: none) in signed 64-bit arithmetic, as
 * its call planning does: for the largest call above, the bytes of K and
 * V it reads (2 x batch x kv heads x tokens x head_dim x 2 bytes, tokens
 * the window where there is one) and its workspace (batch x q heads x
 * splits partial rows of head_dim floats). Without a window that holds
 * while num_kv_heads x head_dim is at most SKV_MAX_KV_ROW_ELEMS, the bound
 * the compiler's spec parser keeps. skv_attention_create refuses a spec
 * that fails it (a crafted package may hold one). Errors:
 * UNSUPPORTED naming the sizes and the product that overflows. */
skv_status skv_pkg_sizes_check(int num_q_heads, int num_kv_heads, int head_dim,
                               int sliding_window);

/* Checks a spec's kernel records (count of them): a known role, entry
 * names NUL-terminated, non-empty and distinct; threads whole warps in
 * [32, SKV_PKG_MAX_THREADS]; dynamic shared memory within
 * SKV_PKG_MAX_SHARED_BYTES; at least one SPLIT kernel, each with
 * tokens_per_step in [1, SKV_PKG_MAX_TOKENS_PER_STEP]; exactly one COMBINE
 * kernel, whose warps divide the head_dim / 8 slices of 8 dims, and
 * tokens_per_step 0 for it. Errors: CORRUPT_PACKAGE naming the kernel. */
skv_status skv_pkg_kernels_check(const skv_pkg_spec *spec, const skv_kernel_desc *kernels,
                                 uint32_t count);

/* Checks one image record's own fields: kind ptx or cubin, sm in [10, 999].
 * Errors: CORRUPT_PACKAGE naming the field and the value. */
skv_status skv_pkg_image_check(const skv_pkg_image *image);

/* Checks one kernel's resources against the SKV_PKG_MAX_* bounds; kernel
 * names it in the message. */
skv_status skv_pkg_resources_check(const skv_kernel_resources *resources,
                                   const char *kernel);

/* Verifies a whole package in memory (borrowed, size bytes) and decodes its
 * header: magic, format and ABI versions, file size, checksum, that the
 * tables and blobs tile the file as described above, the counts within
 * SKV_PKG_MAX_SPECS and SKV_PKG_MAX_IMAGES, every record's fields (the
 * checks above), each spec's images strictly sorted by (kind, sm), PTX
 * NUL-terminated, a cubin starting with the ELF magic, distinct spec
 * names. Its work is linear in size, plus a sort of the spec names.
 * Errors: CORRUPT_PACKAGE naming the record, the field and the offending
 * value; OUT_OF_MEMORY (the name sort's index). */
skv_status skv_pkg_verify(const uint8_t *data, size_t size, skv_pkg_header *out_header);

/* Decode record i of a package that skv_pkg_verify accepted. */
void skv_pkg_spec_decode(const uint8_t *data, const skv_pkg_header *header, uint32_t i,
                         skv_pkg_spec *out_spec);
void skv_pkg_kernel_decode(const uint8_t *data, const skv_pkg_header *header, uint32_t i,
                           skv_kernel_desc *out_kernel);
void skv_pkg_image_decode(const uint8_t *data, const skv_pkg_header *header, uint32_t i,
                          skv_pkg_image *out_image);
void skv_pkg_resources_decode(const uint8_t *data, const skv_pkg_header *header,
                              uint32_t i, skv_kernel_resources *out_resources);

#ifdef __cplusplus
}
#endif

#endif /* SPLITKV_PACKAGE_FORMAT_H */
