/* The package byte layout, defined here and nowhere else: explicit
 * little-endian fields at fixed offsets, so the file does not depend on the
 * compiler's struct layout or the host's byte order. */
#include "splitkv/package_format.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "splitkv/kernel_abi.h"

/* Header field offsets. */
enum {
  HDR_MAGIC = 0,
  HDR_FORMAT_VERSION = 8,
  HDR_ABI_VERSION = 12,
  HDR_FILE_SIZE = 16,
  HDR_CHECKSUM = 24,
  HDR_SPEC_COUNT = 32,
  HDR_IMAGE_COUNT = 36,
  HDR_SPECS_OFFSET = 40,
  HDR_IMAGES_OFFSET = 48,
  HDR_COMPILER_VERSION = 56,
  HDR_END = HDR_COMPILER_VERSION + 32,
};

/* Spec record field offsets. */
enum {
  SPEC_NAME = 0,
  SPEC_HEAD_DIM = SPEC_NAME + SKV_NAME_MAX,
  SPEC_NUM_Q_HEADS = SPEC_HEAD_DIM + 4,
  SPEC_NUM_KV_HEADS = SPEC_NUM_Q_HEADS + 4,
  SPEC_DTYPE = SPEC_NUM_KV_HEADS + 4,
  SPEC_SPLITS = SPEC_DTYPE + 4,
  SPEC_SOFTMAX_SCALE = SPEC_SPLITS + 4,
  SPEC_SPLIT_ENTRY = SPEC_SOFTMAX_SCALE + 4,
  SPEC_COMBINE_ENTRY = SPEC_SPLIT_ENTRY + SKV_ENTRY_MAX,
  SPEC_SPLIT_THREADS = SPEC_COMBINE_ENTRY + SKV_ENTRY_MAX,
  SPEC_SPLIT_THREADS_WIDE = SPEC_SPLIT_THREADS + 4,
  SPEC_SPLIT_SMEM_BYTES = SPEC_SPLIT_THREADS_WIDE + 4,
  SPEC_COMBINE_THREADS = SPEC_SPLIT_SMEM_BYTES + 4,
  SPEC_TOKENS_PER_STEP = SPEC_COMBINE_THREADS + 4,
  SPEC_FIRST_IMAGE = SPEC_TOKENS_PER_STEP + 4,
  SPEC_IMAGE_COUNT = SPEC_FIRST_IMAGE + 4,
  SPEC_END = SPEC_IMAGE_COUNT + 4,
};

/* Kernel resource field offsets, within an image record's split, combine
 * or split_wide part. */
enum {
  RES_REGISTERS = 0,
  RES_SHARED_BYTES = 4,
  RES_STACK_BYTES = 8,
  RES_SPILL_STORE_BYTES = 12,
  RES_SPILL_LOAD_BYTES = 16,
  RES_END = 20,
};

/* Image record field offsets. */
enum {
  IMG_KIND = 0,
  IMG_SM = 4,
  IMG_OFFSET = 8,
  IMG_SIZE = 16,
  IMG_SPLIT = 24,
  IMG_COMBINE = IMG_SPLIT + RES_END,
  IMG_SPLIT_WIDE = IMG_COMBINE + RES_END,
  IMG_END = IMG_SPLIT_WIDE + RES_END,
};

_Static_assert(HDR_END == SKV_PKG_HEADER_SIZE, "header layout != SKV_PKG_HEADER_SIZE");
_Static_assert(SPEC_END == SKV_PKG_SPEC_SIZE, "spec layout != SKV_PKG_SPEC_SIZE");
_Static_assert(IMG_END == SKV_PKG_IMAGE_SIZE, "image layout != SKV_PKG_IMAGE_SIZE");
_Static_assert(sizeof(SKV_PACKAGE_MAGIC) == 8, "magic is 8 bytes with its NUL");
_Static_assert(sizeof(((skv_pkg_header *)0)->compiler_version) == 32,
               "compiler_version field is 32 bytes");
_Static_assert(sizeof(float) == sizeof(uint32_t), "float is 32-bit");

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_f32(uint8_t *p, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof(bits));
  put_u32(p, bits);
}

/* Writes a fixed-size string field: the text up to its NUL, then zeros, so
 * stale bytes after the NUL in the caller's struct never reach the file. */
static void put_str(uint8_t *p, const char *s, size_t field_size) {
  const char *nul = memchr(s, '\0', field_size);
  size_t n = nul ? (size_t)(nul - s) : field_size;
  memcpy(p, s, n);
  memset(p + n, 0, field_size - n);
}

static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static float get_f32(const uint8_t *p) {
  uint32_t bits = get_u32(p);
  float v;
  memcpy(&v, &bits, sizeof(v));
  return v;
}

uint64_t skv_pkg_checksum(const void *data, size_t size) {
  const uint8_t *bytes = data;
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

void skv_pkg_header_encode(const skv_pkg_header *header, uint8_t *out) {
  memcpy(out + HDR_MAGIC, SKV_PACKAGE_MAGIC, sizeof(SKV_PACKAGE_MAGIC));
  put_u32(out + HDR_FORMAT_VERSION, header->format_version);
  put_u32(out + HDR_ABI_VERSION, header->abi_version);
  put_u64(out + HDR_FILE_SIZE, header->file_size);
  put_u64(out + HDR_CHECKSUM, header->checksum);
  put_u32(out + HDR_SPEC_COUNT, header->spec_count);
  put_u32(out + HDR_IMAGE_COUNT, header->image_count);
  put_u64(out + HDR_SPECS_OFFSET, header->specs_offset);
  put_u64(out + HDR_IMAGES_OFFSET, header->images_offset);
  put_str(out + HDR_COMPILER_VERSION, header->compiler_version,
          sizeof(header->compiler_version));
}

void skv_pkg_spec_encode(const skv_pkg_spec *spec, uint8_t *out) {
  put_str(out + SPEC_NAME, spec->name, SKV_NAME_MAX);
  put_u32(out + SPEC_HEAD_DIM, spec->head_dim);
  put_u32(out + SPEC_NUM_Q_HEADS, spec->num_q_heads);
  put_u32(out + SPEC_NUM_KV_HEADS, spec->num_kv_heads);
  put_u32(out + SPEC_DTYPE, spec->dtype);
  put_u32(out + SPEC_SPLITS, spec->splits);
  put_f32(out + SPEC_SOFTMAX_SCALE, spec->softmax_scale);
  put_str(out + SPEC_SPLIT_ENTRY, spec->split_entry, SKV_ENTRY_MAX);
  put_str(out + SPEC_COMBINE_ENTRY, spec->combine_entry, SKV_ENTRY_MAX);
  put_u32(out + SPEC_SPLIT_THREADS, spec->split_threads);
  put_u32(out + SPEC_SPLIT_THREADS_WIDE, spec->split_threads_wide);
  put_u32(out + SPEC_SPLIT_SMEM_BYTES, spec->split_smem_bytes);
  put_u32(out + SPEC_COMBINE_THREADS, spec->combine_threads);
  put_u32(out + SPEC_TOKENS_PER_STEP, spec->tokens_per_step);
  put_u32(out + SPEC_FIRST_IMAGE, spec->first_image);
  put_u32(out + SPEC_IMAGE_COUNT, spec->image_count);
}

static void put_resources(uint8_t *p, const skv_pkg_kernel_resources *r) {
  put_u32(p + RES_REGISTERS, r->registers);
  put_u32(p + RES_SHARED_BYTES, r->shared_bytes);
  put_u32(p + RES_STACK_BYTES, r->stack_bytes);
  put_u32(p + RES_SPILL_STORE_BYTES, r->spill_store_bytes);
  put_u32(p + RES_SPILL_LOAD_BYTES, r->spill_load_bytes);
}

void skv_pkg_image_encode(const skv_pkg_image *image, uint8_t *out) {
  put_u32(out + IMG_KIND, image->kind);
  put_u32(out + IMG_SM, image->sm);
  put_u64(out + IMG_OFFSET, image->offset);
  put_u64(out + IMG_SIZE, image->size);
  put_resources(out + IMG_SPLIT, &image->split);
  put_resources(out + IMG_COMBINE, &image->combine);
  put_resources(out + IMG_SPLIT_WIDE, &image->split_wide);
}

void skv_pkg_spec_decode(const uint8_t *data, const skv_pkg_header *header,
                         uint32_t i, skv_pkg_spec *out_spec) {
  const uint8_t *p = data + header->specs_offset + (uint64_t)i * SKV_PKG_SPEC_SIZE;
  skv_pkg_spec spec;
  memcpy(spec.name, p + SPEC_NAME, SKV_NAME_MAX);
  spec.head_dim = get_u32(p + SPEC_HEAD_DIM);
  spec.num_q_heads = get_u32(p + SPEC_NUM_Q_HEADS);
  spec.num_kv_heads = get_u32(p + SPEC_NUM_KV_HEADS);
  spec.dtype = get_u32(p + SPEC_DTYPE);
  spec.splits = get_u32(p + SPEC_SPLITS);
  spec.softmax_scale = get_f32(p + SPEC_SOFTMAX_SCALE);
  memcpy(spec.split_entry, p + SPEC_SPLIT_ENTRY, SKV_ENTRY_MAX);
  memcpy(spec.combine_entry, p + SPEC_COMBINE_ENTRY, SKV_ENTRY_MAX);
  spec.split_threads = get_u32(p + SPEC_SPLIT_THREADS);
  spec.split_threads_wide = get_u32(p + SPEC_SPLIT_THREADS_WIDE);
  spec.split_smem_bytes = get_u32(p + SPEC_SPLIT_SMEM_BYTES);
  spec.combine_threads = get_u32(p + SPEC_COMBINE_THREADS);
  spec.tokens_per_step = get_u32(p + SPEC_TOKENS_PER_STEP);
  spec.first_image = get_u32(p + SPEC_FIRST_IMAGE);
  spec.image_count = get_u32(p + SPEC_IMAGE_COUNT);
  *out_spec = spec;
}

static void get_resources(const uint8_t *p, skv_pkg_kernel_resources *out) {
  out->registers = get_u32(p + RES_REGISTERS);
  out->shared_bytes = get_u32(p + RES_SHARED_BYTES);
  out->stack_bytes = get_u32(p + RES_STACK_BYTES);
  out->spill_store_bytes = get_u32(p + RES_SPILL_STORE_BYTES);
  out->spill_load_bytes = get_u32(p + RES_SPILL_LOAD_BYTES);
}

void skv_pkg_image_decode(const uint8_t *data, const skv_pkg_header *header,
                          uint32_t i, skv_pkg_image *out_image) {
  const uint8_t *p =
      data + header->images_offset + (uint64_t)i * SKV_PKG_IMAGE_SIZE;
  skv_pkg_image image;
  image.kind = get_u32(p + IMG_KIND);
  image.sm = get_u32(p + IMG_SM);
  image.offset = get_u64(p + IMG_OFFSET);
  image.size = get_u64(p + IMG_SIZE);
  get_resources(p + IMG_SPLIT, &image.split);
  get_resources(p + IMG_COMBINE, &image.combine);
  get_resources(p + IMG_SPLIT_WIDE, &image.split_wide);
  *out_image = image;
}

#define CORRUPT(...) SKV_ERROR(SKV_CODE_CORRUPT_PACKAGE, __VA_ARGS__)

/* A fixed-size string field: terminated within the field and not empty. */
static skv_status check_str(const char *s, size_t field_size, const char *what) {
  if (!memchr(s, '\0', field_size))
    return CORRUPT("%s is not NUL-terminated within its %zu bytes", what,
                   field_size);
  if (s[0] == '\0')
    return CORRUPT("%s is empty", what);
  return SKV_OK;
}

void skv_pkg_spec_split_wide_entry(const skv_pkg_spec *spec, char *out) {
  snprintf(out, SKV_WIDE_ENTRY_MAX, "%s" SKV_WIDE_SUFFIX, spec->split_entry);
}

uint32_t skv_pkg_spec_combine_row_ctas(const skv_pkg_spec *spec, uint32_t lanes) {
  return spec->head_dim / 8 / (spec->combine_threads / lanes);
}

skv_status skv_pkg_spec_check(const skv_pkg_spec *spec) {
  SKV_RETURN_IF_ERROR_PLAIN(check_str(spec->name, SKV_NAME_MAX, "name"));
  SKV_RETURN_IF_ERROR_PLAIN(
      check_str(spec->split_entry, SKV_ENTRY_MAX, "split_entry"));
  SKV_RETURN_IF_ERROR_PLAIN(
      check_str(spec->combine_entry, SKV_ENTRY_MAX, "combine_entry"));
  if (spec->dtype != SKV_DTYPE_BF16 && spec->dtype != SKV_DTYPE_F16)
    return CORRUPT("dtype %u is neither bf16 (%d) nor f16 (%d)", spec->dtype,
                   SKV_DTYPE_BF16, SKV_DTYPE_F16);
  /* Rows of head_dim 2-byte elements must be whole 16-byte vectors. */
  if (spec->head_dim < 8 || spec->head_dim > 1024 || spec->head_dim % 8 != 0)
    return CORRUPT("head_dim %u is not a multiple of 8 in [8, 1024]",
                   spec->head_dim);
  /* num_kv_heads is a grid dimension (y): at most 65535. */
  if (spec->num_q_heads < 1 || spec->num_q_heads > 65535)
    return CORRUPT("num_q_heads %u is not in [1, 65535]", spec->num_q_heads);
  if (spec->num_kv_heads < 1 || spec->num_kv_heads > 65535)
    return CORRUPT("num_kv_heads %u is not in [1, 65535]", spec->num_kv_heads);
  if (spec->num_q_heads % spec->num_kv_heads != 0)
    return CORRUPT("num_kv_heads %u does not divide num_q_heads %u",
                   spec->num_kv_heads, spec->num_q_heads);
  if (spec->splits > SKV_MAX_SPLITS)
    return CORRUPT("splits %u is more than %d", spec->splits, SKV_MAX_SPLITS);
  if (!isfinite(spec->softmax_scale) || !(spec->softmax_scale > 0.0f))
    return CORRUPT("softmax_scale %g is not a finite positive number",
                   (double)spec->softmax_scale);
  if (spec->tokens_per_step < 1 || spec->tokens_per_step > 65536)
    return CORRUPT("tokens_per_step %u is not in [1, 65536]",
                   spec->tokens_per_step);
  if (spec->split_threads < 1 || spec->split_threads > 1024)
    return CORRUPT("split_threads %u is not in [1, 1024]", spec->split_threads);
  if (spec->split_threads_wide != 0 &&
      (spec->split_threads_wide != 2 * spec->split_threads || spec->split_threads_wide > 1024))
    return CORRUPT("split_threads_wide %u is neither 0 nor twice split_threads %u (at "
                   "most 1024)",
                   spec->split_threads_wide, spec->split_threads);
  if (spec->combine_threads < 1 || spec->combine_threads > 1024)
    return CORRUPT("combine_threads %u is not in [1, 1024]",
                   spec->combine_threads);
  /* A row's CTAs cover head_dim exactly at a warp per slice of 8 dims (32
   * lanes; the runtime may take fewer, kernel_abi.h). */
  if (spec->combine_threads % 32 != 0 ||
      (spec->head_dim / 8) % (spec->combine_threads / 32) != 0)
    return CORRUPT("combine_threads %u is not whole warps dividing the %u "
                   "slices of 8 dims of head_dim %u",
                   spec->combine_threads, spec->head_dim / 8, spec->head_dim);
  return SKV_OK;
}

/* Is [offset, offset + count * record) inside [0, size)? Overflow-safe. */
static bool range_fits(uint64_t offset, uint64_t count, uint64_t record,
                       uint64_t size) {
  return offset <= size && count <= (size - offset) / record;
}

/* A table of count records after the header and inside the package. */
static skv_status check_table(uint64_t offset, uint32_t count, uint32_t record,
                              size_t size, const char *what) {
  if (offset < SKV_PKG_HEADER_SIZE || !range_fits(offset, count, record, size))
    return CORRUPT("%s table (%u records at offset %llu) out of bounds of the "
                   "%zu-byte package",
                   what, count, (unsigned long long)offset, size);
  return SKV_OK;
}

static skv_status verify_header(const uint8_t *data, size_t size,
                                skv_pkg_header *out_header) {
  if (size < SKV_PKG_HEADER_SIZE)
    return CORRUPT("package is %zu bytes, smaller than its %u-byte header "
                   "(truncated)",
                   size, SKV_PKG_HEADER_SIZE);
  if (memcmp(data + HDR_MAGIC, SKV_PACKAGE_MAGIC, sizeof(SKV_PACKAGE_MAGIC)))
    return CORRUPT("bad magic: not a splitkv package (expected \"%s\" in the "
                   "first 8 bytes)",
                   SKV_PACKAGE_MAGIC);
  skv_pkg_header header;
  header.format_version = get_u32(data + HDR_FORMAT_VERSION);
  header.abi_version = get_u32(data + HDR_ABI_VERSION);
  header.file_size = get_u64(data + HDR_FILE_SIZE);
  header.checksum = get_u64(data + HDR_CHECKSUM);
  header.spec_count = get_u32(data + HDR_SPEC_COUNT);
  header.image_count = get_u32(data + HDR_IMAGE_COUNT);
  header.specs_offset = get_u64(data + HDR_SPECS_OFFSET);
  header.images_offset = get_u64(data + HDR_IMAGES_OFFSET);
  memcpy(header.compiler_version, data + HDR_COMPILER_VERSION,
         sizeof(header.compiler_version));

  if (header.format_version != SKV_PACKAGE_FORMAT_VERSION)
    return CORRUPT("package format version %u, this runtime reads version %u",
                   header.format_version, SKV_PACKAGE_FORMAT_VERSION);
  if (header.abi_version != SKV_KERNEL_ABI_VERSION)
    return CORRUPT("kernel ABI version %u, this runtime launches ABI version %u "
                   "(rebuild the package with a matching splitkv-compile)",
                   header.abi_version, SKV_KERNEL_ABI_VERSION);
  if (header.file_size != size)
    return CORRUPT("package is %zu bytes but its header says %llu (%s)", size,
                   (unsigned long long)header.file_size,
                   size < header.file_size ? "truncated" : "trailing bytes");
  uint64_t checksum = skv_pkg_checksum(data + SKV_PKG_HEADER_SIZE,
                                       size - SKV_PKG_HEADER_SIZE);
  if (checksum != header.checksum)
    return CORRUPT("checksum mismatch: header says %016llx, contents hash to "
                   "%016llx (damaged file)",
                   (unsigned long long)header.checksum,
                   (unsigned long long)checksum);
  SKV_RETURN_IF_ERROR_PLAIN(check_str(header.compiler_version,
                                      sizeof(header.compiler_version),
                                      "compiler_version"));
  SKV_RETURN_IF_ERROR_PLAIN(check_table(header.specs_offset, header.spec_count,
                                        SKV_PKG_SPEC_SIZE, size, "spec"));
  SKV_RETURN_IF_ERROR_PLAIN(check_table(header.images_offset, header.image_count,
                                        SKV_PKG_IMAGE_SIZE, size, "image"));
  *out_header = header;
  return SKV_OK;
}

static skv_status verify_spec(const uint8_t *data, const skv_pkg_header *header,
                              uint32_t i) {
  skv_pkg_spec spec;
  skv_pkg_spec_decode(data, header, i, &spec);
  skv_status status = skv_pkg_spec_check(&spec);
  bool named = memchr(spec.name, '\0', SKV_NAME_MAX) && spec.name[0];
  if (!status && !range_fits(spec.first_image, spec.image_count, 1,
                             header->image_count))
    status = CORRUPT("images [%u, %llu) out of range of the %u-image table",
                     spec.first_image,
                     (unsigned long long)spec.first_image + spec.image_count,
                     header->image_count);
  if (!status && spec.image_count == 0)
    status = CORRUPT("no images");
  /* The runtime picks an image by (kind, sm): each pair at most once. */
  for (uint32_t a = 0; !status && a < spec.image_count; ++a) {
    skv_pkg_image x, y;
    skv_pkg_image_decode(data, header, spec.first_image + a, &x);
    for (uint32_t b = 0; !status && b < a; ++b) {
      skv_pkg_image_decode(data, header, spec.first_image + b, &y);
      if (x.kind == y.kind && x.sm == y.sm)
        status = CORRUPT("images %u and %u are both %s sm_%u",
                         spec.first_image + b, spec.first_image + a,
                         skv_image_kind_name((skv_image_kind)x.kind), x.sm);
    }
  }
  for (uint32_t j = 0; !status && j < i; ++j) {
    skv_pkg_spec other;
    skv_pkg_spec_decode(data, header, j, &other);
    if (strcmp(other.name, spec.name) == 0)
      status = CORRUPT("name repeats spec %u's", j);
  }
  if (status && named)
    return skv_status_annotate(status, "spec %u (%s)", i, spec.name);
  if (status)
    return skv_status_annotate(status, "spec %u", i);
  return SKV_OK;
}

static skv_status check_resources(const skv_pkg_kernel_resources *r,
                                  const char *kernel) {
  if (r->registers > SKV_PKG_MAX_REGISTERS)
    return CORRUPT("%s registers %u is more than %u", kernel, r->registers,
                   SKV_PKG_MAX_REGISTERS);
  if (r->shared_bytes > SKV_PKG_MAX_SHARED_BYTES)
    return CORRUPT("%s shared_bytes %u is more than %u", kernel,
                   r->shared_bytes, SKV_PKG_MAX_SHARED_BYTES);
  const struct {
    uint32_t value;
    const char *name;
  } local[] = {{r->stack_bytes, "stack_bytes"},
               {r->spill_store_bytes, "spill_store_bytes"},
               {r->spill_load_bytes, "spill_load_bytes"}};
  for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); ++i)
    if (local[i].value > SKV_PKG_MAX_LOCAL_BYTES)
      return CORRUPT("%s %s %u is more than %u", kernel, local[i].name,
                     local[i].value, SKV_PKG_MAX_LOCAL_BYTES);
  return SKV_OK;
}

skv_status skv_pkg_image_check(const skv_pkg_image *image) {
  if (image->kind != SKV_IMAGE_PTX && image->kind != SKV_IMAGE_CUBIN)
    return CORRUPT("unknown kind %u (ptx is %d, cubin %d)", image->kind,
                   SKV_IMAGE_PTX, SKV_IMAGE_CUBIN);
  if (image->sm < 10 || image->sm > 999)
    return CORRUPT("sm %u is not a compute capability", image->sm);
  SKV_RETURN_IF_ERROR_PLAIN(check_resources(&image->split, "split"));
  SKV_RETURN_IF_ERROR_PLAIN(check_resources(&image->split_wide, "split_wide"));
  return check_resources(&image->combine, "combine");
}

/* What a cubin starts with: it is an ELF file. */
static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};

static skv_status verify_image(const uint8_t *data, size_t size,
                               const skv_pkg_header *header, uint32_t i) {
  skv_pkg_image image;
  skv_pkg_image_decode(data, header, i, &image);
  skv_status status = skv_pkg_image_check(&image);
  if (status && (image.kind == SKV_IMAGE_PTX || image.kind == SKV_IMAGE_CUBIN))
    return skv_status_annotate(status, "image %u (%s sm_%u)", i,
                               skv_image_kind_name((skv_image_kind)image.kind), image.sm);
  if (status)
    return skv_status_annotate(status, "image %u", i);
  const char *kind = skv_image_kind_name((skv_image_kind)image.kind);
  if (image.offset < SKV_PKG_HEADER_SIZE || image.size == 0 ||
      !range_fits(image.offset, image.size, 1, size))
    return CORRUPT("image %u (%s sm_%u): bytes [%llu, +%llu) out of bounds of "
                   "the %zu-byte package",
                   i, kind, image.sm, (unsigned long long)image.offset,
                   (unsigned long long)image.size, size);
  /* cuModuleLoadData reads PTX as a C string. */
  if (image.kind == SKV_IMAGE_PTX && data[image.offset + image.size - 1] != 0)
    return CORRUPT("image %u (ptx sm_%u): PTX image not NUL-terminated", i,
                   image.sm);
  if (image.kind == SKV_IMAGE_CUBIN &&
      (image.size < sizeof(elf_magic) ||
       memcmp(data + image.offset, elf_magic, sizeof(elf_magic)) != 0))
    return CORRUPT("image %u (cubin sm_%u): not an ELF file (no \\x7fELF at "
                   "its start)",
                   i, image.sm);
  return SKV_OK;
}

skv_status skv_pkg_verify(const uint8_t *data, size_t size,
                          skv_pkg_header *out_header) {
  skv_pkg_header header;
  SKV_RETURN_IF_ERROR_PLAIN(verify_header(data, size, &header));
  for (uint32_t i = 0; i < header.spec_count; ++i)
    SKV_RETURN_IF_ERROR_PLAIN(verify_spec(data, &header, i));
  for (uint32_t i = 0; i < header.image_count; ++i)
    SKV_RETURN_IF_ERROR_PLAIN(verify_image(data, size, &header, i));
  *out_header = header;
  return SKV_OK;
}
