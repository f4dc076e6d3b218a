/* The package byte layout, defined here and nowhere else: explicit
 * little-endian fields at fixed offsets, so the file does not depend on the
 * compiler's struct layout or the host's byte order. */
#include "splitkv/package_format.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header field offsets. */
enum {
  HDR_MAGIC = 0,
  HDR_FORMAT_VERSION = 8,
  HDR_ABI_VERSION = 12,
  HDR_FILE_SIZE = 16,
  HDR_CHECKSUM = 24,
  HDR_SPEC_COUNT = 32,
  HDR_KERNEL_COUNT = 36,
  HDR_IMAGE_COUNT = 40,
  HDR_RESOURCE_COUNT = 44,
  HDR_SPECS_OFFSET = 48,
  HDR_KERNELS_OFFSET = 56,
  HDR_IMAGES_OFFSET = 64,
  HDR_RESOURCES_OFFSET = 72,
  HDR_COMPILER_VERSION = 80,
  HDR_END = HDR_COMPILER_VERSION + 32,
};

/* Spec record field offsets: the name, SKV_PKG_FIELD_SLOTS (id, value)
 * pairs (id 0: an unused slot), the ranges. */
enum {
  SPEC_NAME = 0,
  SPEC_FIELDS = SPEC_NAME + SKV_NAME_MAX,
  SPEC_FIRST_KERNEL = SPEC_FIELDS + 8 * SKV_PKG_FIELD_SLOTS,
  SPEC_KERNEL_COUNT = SPEC_FIRST_KERNEL + 4,
  SPEC_FIRST_IMAGE = SPEC_KERNEL_COUNT + 4,
  SPEC_IMAGE_COUNT = SPEC_FIRST_IMAGE + 4,
  SPEC_END = SPEC_IMAGE_COUNT + 4,
};

/* Kernel record field offsets. */
enum {
  KERNEL_ROLE = 0,
  KERNEL_THREADS = 4,
  KERNEL_DYNAMIC_SMEM = 8,
  KERNEL_TOKENS_PER_STEP = 12,
  KERNEL_ENTRY = 16,
  KERNEL_END = KERNEL_ENTRY + SKV_ENTRY_MAX,
};

/* Image record field offsets. */
enum {
  IMG_KIND = 0,
  IMG_SM = 4,
  IMG_OFFSET = 8,
  IMG_SIZE = 16,
  IMG_FIRST_RESOURCE = 24,
  IMG_RESOURCE_COUNT = 28,
  IMG_END = 32,
};

/* Resource record field offsets. */
enum {
  RES_REGISTERS = 0,
  RES_SHARED_BYTES = 4,
  RES_STACK_BYTES = 8,
  RES_SPILL_STORE_BYTES = 12,
  RES_SPILL_LOAD_BYTES = 16,
  RES_END = 20,
};

_Static_assert(HDR_END == SKV_PKG_HEADER_SIZE, "header layout != SKV_PKG_HEADER_SIZE");
_Static_assert(SPEC_END == SKV_PKG_SPEC_SIZE, "spec layout != SKV_PKG_SPEC_SIZE");
_Static_assert(KERNEL_END == SKV_PKG_KERNEL_SIZE, "kernel layout != SKV_PKG_KERNEL_SIZE");
_Static_assert(IMG_END == SKV_PKG_IMAGE_SIZE, "image layout != SKV_PKG_IMAGE_SIZE");
_Static_assert(RES_END == SKV_PKG_RESOURCES_SIZE, "resources layout != SKV_PKG_RESOURCES_SIZE");
_Static_assert(sizeof(SKV_PACKAGE_MAGIC) == 8, "magic is 8 bytes with its NUL");
_Static_assert(sizeof(((skv_pkg_header *)0)->compiler_version) == 32,
               "compiler_version field is 32 bytes");
_Static_assert(SKV_SPEC_FIELD_COUNT <= SKV_PKG_FIELD_SLOTS,
               "a spec record has a slot for every field");

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = (uint8_t)(v >> (8 * i));
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

static uint64_t fnv1a(uint64_t hash, const uint8_t *bytes, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

#define FNV1A_BASIS 0xcbf29ce484222325ull

uint64_t skv_pkg_checksum(const void *data, size_t size) {
  return fnv1a(FNV1A_BASIS, data, size);
}

uint64_t skv_pkg_file_checksum(const uint8_t *package, size_t size) {
  static const uint8_t zero[8] = {0};
  uint64_t hash = fnv1a(FNV1A_BASIS, package, HDR_CHECKSUM);
  hash = fnv1a(hash, zero, sizeof(zero));
  return fnv1a(hash, package + HDR_CHECKSUM + 8, size - (HDR_CHECKSUM + 8));
}

/* ---- records ------------------------------------------------------------- */

void skv_pkg_header_encode(const skv_pkg_header *header, uint8_t *out) {
  memcpy(out + HDR_MAGIC, SKV_PACKAGE_MAGIC, sizeof(SKV_PACKAGE_MAGIC));
  put_u32(out + HDR_FORMAT_VERSION, header->format_version);
  put_u32(out + HDR_ABI_VERSION, header->abi_version);
  put_u64(out + HDR_FILE_SIZE, header->file_size);
  put_u64(out + HDR_CHECKSUM, header->checksum);
  put_u32(out + HDR_SPEC_COUNT, header->spec_count);
  put_u32(out + HDR_KERNEL_COUNT, header->kernel_count);
  put_u32(out + HDR_IMAGE_COUNT, header->image_count);
  put_u32(out + HDR_RESOURCE_COUNT, header->resource_count);
  put_u64(out + HDR_SPECS_OFFSET, header->specs_offset);
  put_u64(out + HDR_KERNELS_OFFSET, header->kernels_offset);
  put_u64(out + HDR_IMAGES_OFFSET, header->images_offset);
  put_u64(out + HDR_RESOURCES_OFFSET, header->resources_offset);
  put_str(out + HDR_COMPILER_VERSION, header->compiler_version,
          sizeof(header->compiler_version));
}

static void header_decode(const uint8_t *data, skv_pkg_header *out) {
  out->format_version = get_u32(data + HDR_FORMAT_VERSION);
  out->abi_version = get_u32(data + HDR_ABI_VERSION);
  out->file_size = get_u64(data + HDR_FILE_SIZE);
  out->checksum = get_u64(data + HDR_CHECKSUM);
  out->spec_count = get_u32(data + HDR_SPEC_COUNT);
  out->kernel_count = get_u32(data + HDR_KERNEL_COUNT);
  out->image_count = get_u32(data + HDR_IMAGE_COUNT);
  out->resource_count = get_u32(data + HDR_RESOURCE_COUNT);
  out->specs_offset = get_u64(data + HDR_SPECS_OFFSET);
  out->kernels_offset = get_u64(data + HDR_KERNELS_OFFSET);
  out->images_offset = get_u64(data + HDR_IMAGES_OFFSET);
  out->resources_offset = get_u64(data + HDR_RESOURCES_OFFSET);
  memcpy(out->compiler_version, data + HDR_COMPILER_VERSION, sizeof(out->compiler_version));
}

void skv_pkg_spec_encode(const skv_pkg_spec *spec, uint8_t *out) {
  put_str(out + SPEC_NAME, spec->name, SKV_NAME_MAX);
  memset(out + SPEC_FIELDS, 0, 8 * SKV_PKG_FIELD_SLOTS);
  uint8_t *slot = out + SPEC_FIELDS;
#define SKV_FIELD_ENCODE(member, id, type, min, max, fallback)                 \
  put_u32(slot, id);                                                           \
  put_u32(slot + 4, SKV_FIELD_##type##_BITS(spec->member));                    \
  slot += 8;
  SKV_SPEC_FIELDS(SKV_FIELD_ENCODE)
#undef SKV_FIELD_ENCODE
  put_u32(out + SPEC_FIRST_KERNEL, spec->first_kernel);
  put_u32(out + SPEC_KERNEL_COUNT, spec->kernel_count);
  put_u32(out + SPEC_FIRST_IMAGE, spec->first_image);
  put_u32(out + SPEC_IMAGE_COUNT, spec->image_count);
}

/* Decodes a spec record; a field without a slot gets its fallback (or 0
 * where it has none). *out_problem describes the first slot that is not a
 * field of SKV_SPEC_FIELDS, a field given twice, or a field without a
 * fallback that has no slot; it is empty when there is none. */
static void spec_decode(const uint8_t *p, skv_pkg_spec *out, char *out_problem,
                        size_t problem_size) {
  skv_pkg_spec spec;
  memset(&spec, 0, sizeof(spec));
  out_problem[0] = '\0';
  memcpy(spec.name, p + SPEC_NAME, SKV_NAME_MAX);
  bool seen[256] = {false};
  for (int i = 0; i < SKV_PKG_FIELD_SLOTS; ++i) {
    uint32_t id = get_u32(p + SPEC_FIELDS + 8 * i);
    uint32_t bits = get_u32(p + SPEC_FIELDS + 8 * i + 4);
    if (id == 0)
      continue;
    bool known = false;
    switch (id) {
#define SKV_FIELD_DECODE(member, id, type, min, max, fallback)                 \
  case id:                                                                     \
    spec.member = SKV_FIELD_##type##_VALUE(bits);                              \
    known = true;                                                              \
    break;
      SKV_SPEC_FIELDS(SKV_FIELD_DECODE)
#undef SKV_FIELD_DECODE
    default:
      break;
    }
    if (!known && !out_problem[0])
      snprintf(out_problem, problem_size, "field slot %d holds unknown field id %u", i,
               id);
    if (known && seen[id] && !out_problem[0])
      snprintf(out_problem, problem_size, "field id %u appears twice", id);
    if (known)
      seen[id] = true;
  }
#define SKV_FIELD_FALLBACK(member, id, type, min, max, fallback)               \
  if (!seen[id]) {                                                             \
    if ((fallback) == SKV_FIELD_REQUIRED || (fallback) == SKV_FIELD_DERIVED) {  \
      if (!out_problem[0])                                                     \
        snprintf(out_problem, problem_size, "no " #member " field");           \
    } else {                                                                   \
      spec.member = (SKV_FIELD_##type##_CTYPE)(fallback);                      \
    }                                                                          \
  }
  SKV_SPEC_FIELDS(SKV_FIELD_FALLBACK)
#undef SKV_FIELD_FALLBACK
  spec.first_kernel = get_u32(p + SPEC_FIRST_KERNEL);
  spec.kernel_count = get_u32(p + SPEC_KERNEL_COUNT);
  spec.first_image = get_u32(p + SPEC_FIRST_IMAGE);
  spec.image_count = get_u32(p + SPEC_IMAGE_COUNT);
  *out = spec;
}

void skv_pkg_spec_decode(const uint8_t *data, const skv_pkg_header *header, uint32_t i,
                         skv_pkg_spec *out_spec) {
  char problem[8];
  spec_decode(data + header->specs_offset + (uint64_t)i * SKV_PKG_SPEC_SIZE, out_spec,
              problem, sizeof(problem));
}

void skv_pkg_kernel_encode(const skv_kernel_desc *kernel, uint8_t *out) {
  put_u32(out + KERNEL_ROLE, kernel->role);
  put_u32(out + KERNEL_THREADS, kernel->threads);
  put_u32(out + KERNEL_DYNAMIC_SMEM, kernel->dynamic_smem_bytes);
  put_u32(out + KERNEL_TOKENS_PER_STEP, kernel->tokens_per_step);
  put_str(out + KERNEL_ENTRY, kernel->entry, SKV_ENTRY_MAX);
}

void skv_pkg_kernel_decode(const uint8_t *data, const skv_pkg_header *header, uint32_t i,
                           skv_kernel_desc *out_kernel) {
  const uint8_t *p = data + header->kernels_offset + (uint64_t)i * SKV_PKG_KERNEL_SIZE;
  skv_kernel_desc kernel;
  kernel.role = get_u32(p + KERNEL_ROLE);
  kernel.threads = get_u32(p + KERNEL_THREADS);
  kernel.dynamic_smem_bytes = get_u32(p + KERNEL_DYNAMIC_SMEM);
  kernel.tokens_per_step = get_u32(p + KERNEL_TOKENS_PER_STEP);
  memcpy(kernel.entry, p + KERNEL_ENTRY, SKV_ENTRY_MAX);
  *out_kernel = kernel;
}

void skv_pkg_image_encode(const skv_pkg_image *image, uint8_t *out) {
  put_u32(out + IMG_KIND, image->kind);
  put_u32(out + IMG_SM, image->sm);
  put_u64(out + IMG_OFFSET, image->offset);
  put_u64(out + IMG_SIZE, image->size);
  put_u32(out + IMG_FIRST_RESOURCE, image->first_resource);
  put_u32(out + IMG_RESOURCE_COUNT, image->resource_count);
}

void skv_pkg_image_decode(const uint8_t *data, const skv_pkg_header *header, uint32_t i,
                          skv_pkg_image *out_image) {
  const uint8_t *p = data + header->images_offset + (uint64_t)i * SKV_PKG_IMAGE_SIZE;
  skv_pkg_image image;
  image.kind = get_u32(p + IMG_KIND);
  image.sm = get_u32(p + IMG_SM);
  image.offset = get_u64(p + IMG_OFFSET);
  image.size = get_u64(p + IMG_SIZE);
  image.first_resource = get_u32(p + IMG_FIRST_RESOURCE);
  image.resource_count = get_u32(p + IMG_RESOURCE_COUNT);
  *out_image = image;
}

void skv_pkg_resources_encode(const skv_kernel_resources *r, uint8_t *out) {
  put_u32(out + RES_REGISTERS, r->registers);
  put_u32(out + RES_SHARED_BYTES, r->shared_bytes);
  put_u32(out + RES_STACK_BYTES, r->stack_bytes);
  put_u32(out + RES_SPILL_STORE_BYTES, r->spill_store_bytes);
  put_u32(out + RES_SPILL_LOAD_BYTES, r->spill_load_bytes);
}

void skv_pkg_resources_decode(const uint8_t *data, const skv_pkg_header *header,
                              uint32_t i, skv_kernel_resources *out) {
  const uint8_t *p = data + header->resources_offset + (uint64_t)i * SKV_PKG_RESOURCES_SIZE;
  out->registers = get_u32(p + RES_REGISTERS);
  out->shared_bytes = get_u32(p + RES_SHARED_BYTES);
  out->stack_bytes = get_u32(p + RES_STACK_BYTES);
  out->spill_store_bytes = get_u32(p + RES_SPILL_STORE_BYTES);
  out->spill_load_bytes = get_u32(p + RES_SPILL_LOAD_BYTES);
}

uint32_t skv_pkg_combine_row_ctas(uint32_t head_dim, uint32_t combine_threads,
                                  uint32_t lanes) {
  return head_dim / 8 / (combine_threads / lanes);
}

/* ---- checks of one record -------------------------------------------------- */

#define CORRUPT(...) SKV_ERROR(SKV_CODE_CORRUPT_PACKAGE, __VA_ARGS__)

/* A fixed-size string field: terminated within the field and not empty. */
static skv_status check_str(const char *s, size_t field_size, const char *what) {
  if (!memchr(s, '\0', field_size))
    return CORRUPT("%s is not NUL-terminated within its %zu bytes", what, field_size);
  if (s[0] == '\0')
    return CORRUPT("%s is empty", what);
  return SKV_OK;
}

/* A field type's check (INVALID_ARGUMENT) as a damaged package's. */
static skv_status as_corrupt(skv_status status) {
  if (!status)
    return SKV_OK;
  skv_status corrupt = CORRUPT("%s", skv_status_message(status));
  skv_status_free(status);
  return corrupt;
}

skv_status skv_pkg_spec_check(const skv_pkg_spec *spec) {
  SKV_RETURN_IF_ERROR_PLAIN(check_str(spec->name, SKV_NAME_MAX, "name"));
#define SKV_FIELD_CHECK(member, id, type, min, max, fallback)                  \
  SKV_RETURN_IF_ERROR_PLAIN(                                                   \
      as_corrupt(skv_field_check_##type(#member, spec->member, min, max)));
  SKV_SPEC_FIELDS(SKV_FIELD_CHECK)
#undef SKV_FIELD_CHECK
  return as_corrupt(skv_fields_check_combination(spec->num_q_heads, spec->num_kv_heads,
                                                 spec->kv_layout, spec->page_size));
}

static skv_status check_kernel(const skv_pkg_spec *spec, const skv_kernel_desc *k) {
  SKV_RETURN_IF_ERROR_PLAIN(check_str(k->entry, SKV_ENTRY_MAX, "entry"));
  if (strcmp(skv_kernel_role_name((skv_kernel_role)k->role), "unknown") == 0)
    return CORRUPT("role %u is not a kernel role", k->role);
  if (k->threads < 32 || k->threads > SKV_PKG_MAX_THREADS || k->threads % 32 != 0)
    return CORRUPT("threads %u is not whole warps in [32, %u]", k->threads,
                   SKV_PKG_MAX_THREADS);
  if (k->dynamic_smem_bytes > SKV_PKG_MAX_SHARED_BYTES)
    return CORRUPT("dynamic_smem_bytes %u is more than %u", k->dynamic_smem_bytes,
                   SKV_PKG_MAX_SHARED_BYTES);
  bool streams = k->role == SKV_KERNEL_SPLIT || k->role == SKV_KERNEL_BALANCED;
  if (streams && (k->tokens_per_step < 1 || k->tokens_per_step > SKV_PKG_MAX_TOKENS_PER_STEP))
    return CORRUPT("tokens_per_step %u is not in [1, %u]", k->tokens_per_step,
                   SKV_PKG_MAX_TOKENS_PER_STEP);
  if (!streams && k->tokens_per_step != 0)
    return CORRUPT("tokens_per_step %u of a %s kernel is not 0", k->tokens_per_step,
                   skv_kernel_role_name((skv_kernel_role)k->role));
  /* A row's CTAs cover head_dim exactly at a warp per slice of 8 dims (32
   * lanes; the runtime may take fewer, kernel_abi.h). */
  uint32_t slices = (uint32_t)spec->head_dim / 8;
  if (k->role == SKV_KERNEL_COMBINE && (slices == 0 || slices % (k->threads / 32) != 0))
    return CORRUPT("threads %u is not whole warps dividing the %u slices of 8 dims of "
                   "head_dim %d",
                   k->threads, slices, spec->head_dim);
  return SKV_OK;
}

skv_status skv_pkg_kernels_check(const skv_pkg_spec *spec, const skv_kernel_desc *kernels,
                                 uint32_t count) {
  if (count < 2 || count > SKV_MAX_KERNELS)
    return CORRUPT("%u kernels, not in [2, %d]", count, SKV_MAX_KERNELS);
  uint32_t splits = 0, combines = 0, balanced = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const skv_kernel_desc *k = &kernels[i];
    skv_status status = check_kernel(spec, k);
    bool named = memchr(k->entry, '\0', SKV_ENTRY_MAX) && k->entry[0];
    if (status)
      return named ? skv_status_annotate(status, "kernel %u (%s)", i, k->entry)
                   : skv_status_annotate(status, "kernel %u", i);
    for (uint32_t j = 0; j < i; ++j)
      if (strcmp(kernels[j].entry, k->entry) == 0)
        return CORRUPT("kernel %u (%s): entry repeats kernel %u's", i, k->entry, j);
    splits += k->role == SKV_KERNEL_SPLIT;
    combines += k->role == SKV_KERNEL_COMBINE;
    balanced += k->role == SKV_KERNEL_BALANCED;
  }
  if (splits == 0)
    return CORRUPT("no split kernel");
  if (combines != 1)
    return CORRUPT("%u combine kernels, not 1", combines);
  if (balanced != 1)
    return CORRUPT("%u balanced kernels, not 1", balanced);
  return SKV_OK;
}

skv_status skv_pkg_image_check(const skv_pkg_image *image) {
  if (strcmp(skv_image_kind_name((skv_image_kind)image->kind), "unknown") == 0)
    return CORRUPT("unknown kind %u (ptx is %d, cubin %d)", image->kind, SKV_IMAGE_PTX,
                   SKV_IMAGE_CUBIN);
  if (image->sm < 10 || image->sm > 999)
    return CORRUPT("sm %u is not a compute capability", image->sm);
  return SKV_OK;
}

skv_status skv_pkg_resources_check(const skv_kernel_resources *r, const char *kernel) {
  if (r->registers > SKV_PKG_MAX_REGISTERS)
    return CORRUPT("%s registers %u is more than %u", kernel, r->registers,
                   SKV_PKG_MAX_REGISTERS);
  if (r->shared_bytes > SKV_PKG_MAX_SHARED_BYTES)
    return CORRUPT("%s shared_bytes %u is more than %u", kernel, r->shared_bytes,
                   SKV_PKG_MAX_SHARED_BYTES);
  const struct {
    uint32_t value;
    const char *name;
  } local[] = {{r->stack_bytes, "stack_bytes"},
               {r->spill_store_bytes, "spill_store_bytes"},
               {r->spill_load_bytes, "spill_load_bytes"}};
  for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); ++i)
    if (local[i].value > SKV_PKG_MAX_LOCAL_BYTES)
      return CORRUPT("%s %s %u is more than %u", kernel, local[i].name, local[i].value,
                     SKV_PKG_MAX_LOCAL_BYTES);
  return SKV_OK;
}

/* The compiler's bound (spec_fields.h) is the one this check gives without
 * a window. */
_Static_assert(4ull * SKV_PKG_MAX_CALL_BATCH * INT32_MAX * SKV_MAX_KV_ROW_ELEMS <=
                       (unsigned long long)INT64_MAX &&
                   4ull * SKV_PKG_MAX_CALL_BATCH * INT32_MAX * (SKV_MAX_KV_ROW_ELEMS + 1) >
                       (unsigned long long)INT64_MAX,
               "SKV_MAX_KV_ROW_ELEMS is the most kv heads x head_dim a call can size");

/* *product times factor, unless that passes INT64_MAX: whether it did not. */
static bool mul_fits(uint64_t *product, uint64_t factor) {
  if (factor != 0 && *product > (uint64_t)INT64_MAX / factor)
    return false;
  *product *= factor;
  return true;
}

skv_status skv_pkg_sizes_check(int num_q_heads, int num_kv_heads, int head_dim,
                               int sliding_window) {
  if (num_q_heads < 1 || num_kv_heads < 1 || head_dim < 1 || sliding_window < 0)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "sizes %d q heads, %d kv heads, head_dim %d, sliding_window %d are not "
                     "a spec's",
                     num_q_heads, num_kv_heads, head_dim, sliding_window);
  const uint64_t batch = SKV_PKG_MAX_CALL_BATCH;
  const uint64_t tokens = sliding_window > 0 ? (uint64_t)sliding_window : INT32_MAX;
  uint64_t kv_bytes = 2 * sizeof(uint16_t);
  bool fits = mul_fits(&kv_bytes, batch) && mul_fits(&kv_bytes, (uint64_t)num_kv_heads) &&
              mul_fits(&kv_bytes, tokens) && mul_fits(&kv_bytes, (uint64_t)head_dim);
  if (!fits)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%d kv heads x head_dim %d is too large for the runtime's 64-bit sizes: "
                     "a call of %llu sequences of %llu tokens reads 2 x %llu x %d x %llu x "
                     "%d x 2 bytes of K and V, more than 2^63 - 1 (num_kv_heads x head_dim "
                     "may be at most %d without a sliding window)",
                     num_kv_heads, head_dim, (unsigned long long)batch,
                     (unsigned long long)tokens, (unsigned long long)batch, num_kv_heads,
                     (unsigned long long)tokens, head_dim, SKV_MAX_KV_ROW_ELEMS);
  uint64_t workspace = sizeof(float);
  fits = mul_fits(&workspace, batch) && mul_fits(&workspace, (uint64_t)num_q_heads) &&
         mul_fits(&workspace, SKV_MAX_SPLITS) && mul_fits(&workspace, (uint64_t)head_dim);
  if (!fits)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%d q heads x head_dim %d is too large for the runtime's 64-bit sizes: "
                     "the workspace of %llu sequences in %d chunks, %llu x %d x %d x %d x 4 "
                     "bytes, is more than 2^63 - 1",
                     num_q_heads, head_dim, (unsigned long long)batch, SKV_MAX_SPLITS,
                     (unsigned long long)batch, num_q_heads, SKV_MAX_SPLITS, head_dim);
  return SKV_OK;
}

/* ---- the whole package ------------------------------------------------------- */

/* [offset, offset + count * record) inside [0, size)? Overflow-safe. */
static bool range_fits(uint64_t offset, uint64_t count, uint64_t record, uint64_t size) {
  return offset <= size && count <= (size - offset) / record;
}

static uint64_t align_blob(uint64_t n) {
  return (n + SKV_PKG_BLOB_ALIGN - 1) / SKV_PKG_BLOB_ALIGN * SKV_PKG_BLOB_ALIGN;
}

/* The header, and that the four tables follow it and each other. */
static skv_status verify_header(const uint8_t *data, size_t size, skv_pkg_header *out) {
  if (size < SKV_PKG_HEADER_SIZE)
    return CORRUPT("package is %zu bytes, smaller than its %u-byte header (truncated)",
                   size, SKV_PKG_HEADER_SIZE);
  if (memcmp(data + HDR_MAGIC, SKV_PACKAGE_MAGIC, sizeof(SKV_PACKAGE_MAGIC)))
    return CORRUPT("bad magic: not a splitkv package (expected \"%s\" in the first 8 "
                   "bytes)",
                   SKV_PACKAGE_MAGIC);
  skv_pkg_header h;
  header_decode(data, &h);
  if (h.format_version != SKV_PACKAGE_FORMAT_VERSION)
    return CORRUPT("package format version %u, this runtime reads version %u",
                   h.format_version, SKV_PACKAGE_FORMAT_VERSION);
  if (h.abi_version != SKV_KERNEL_ABI_VERSION)
    return CORRUPT("kernel ABI version %u, this runtime launches ABI version %u (rebuild "
                   "the package with a matching splitkv-compile)",
                   h.abi_version, SKV_KERNEL_ABI_VERSION);
  if (h.file_size != size)
    return CORRUPT("package is %zu bytes but its header says %llu (%s)", size,
                   (unsigned long long)h.file_size,
                   size < h.file_size ? "truncated" : "trailing bytes");
  uint64_t checksum = skv_pkg_file_checksum(data, size);
  if (checksum != h.checksum)
    return CORRUPT("checksum mismatch: header says %016llx, contents hash to %016llx "
                   "(damaged file)",
                   (unsigned long long)h.checksum, (unsigned long long)checksum);
  SKV_RETURN_IF_ERROR_PLAIN(
      check_str(h.compiler_version, sizeof(h.compiler_version), "compiler_version"));
  const struct {
    uint64_t offset;
    uint32_t count, record;
    const char *what;
  } tables[] = {{h.specs_offset, h.spec_count, SKV_PKG_SPEC_SIZE, "spec"},
                {h.kernels_offset, h.kernel_count, SKV_PKG_KERNEL_SIZE, "kernel"},
                {h.images_offset, h.image_count, SKV_PKG_IMAGE_SIZE, "image"},
                {h.resources_offset, h.resource_count, SKV_PKG_RESOURCES_SIZE, "resource"}};
  uint64_t expected = SKV_PKG_HEADER_SIZE;
  for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); ++t) {
    if (tables[t].offset != expected)
      return CORRUPT("%s table at offset %llu, expected %llu (right after the %s%s)",
                     tables[t].what, (unsigned long long)tables[t].offset,
                     (unsigned long long)expected, t ? tables[t - 1].what : "header",
                     t ? " table" : "");
    if (!range_fits(tables[t].offset, tables[t].count, tables[t].record, size))
      return CORRUPT("%s table (%u records at offset %llu) out of bounds of the "
                     "%zu-byte package",
                     tables[t].what, tables[t].count, (unsigned long long)tables[t].offset,
                     size);
    expected = tables[t].offset + (uint64_t)tables[t].count * tables[t].record;
  }
  if (h.spec_count == 0)
    return CORRUPT("no specs");
  /* Refused here, before any record is read: no real package comes near,
   * and the per-spec ranges below then bound the other tables. */
  if (h.spec_count > SKV_PKG_MAX_SPECS)
    return CORRUPT("%u specs, more than the %u a package may hold", h.spec_count,
                   SKV_PKG_MAX_SPECS);
  if (h.kernel_count > h.spec_count * SKV_MAX_KERNELS ||
      h.image_count > h.spec_count * SKV_PKG_MAX_IMAGES)
    return CORRUPT("%u kernels and %u images for %u specs, more than %u and %u per spec",
                   h.kernel_count, h.image_count, h.spec_count, SKV_MAX_KERNELS,
                   SKV_PKG_MAX_IMAGES);
  *out = h;
  return SKV_OK;
}

/* Spec i's record, its kernels, and that its ranges continue the previous
 * spec's (*next_kernel, *next_image). */
static skv_status verify_spec(const uint8_t *data, const skv_pkg_header *h, uint32_t i,
                              uint32_t *next_kernel, uint32_t *next_image,
                              skv_pkg_spec *out_spec) {
  skv_pkg_spec spec;
  char problem[96];
  spec_decode(data + h->specs_offset + (uint64_t)i * SKV_PKG_SPEC_SIZE, &spec, problem,
              sizeof(problem));
  skv_status status = problem[0] ? CORRUPT("%s", problem) : skv_pkg_spec_check(&spec);
  if (!status && (spec.first_kernel != *next_kernel ||
                  !range_fits(spec.first_kernel, spec.kernel_count, 1, h->kernel_count)))
    status = CORRUPT("kernels [%u, +%u) are not the next ones of the %u-kernel table "
                     "(expected from %u)",
                     spec.first_kernel, spec.kernel_count, h->kernel_count, *next_kernel);
  if (!status && (spec.image_count == 0 || spec.first_image != *next_image ||
                  !range_fits(spec.first_image, spec.image_count, 1, h->image_count)))
    status = CORRUPT("images [%u, +%u) are not the next ones of the %u-image table "
                     "(expected from %u, at least one)",
                     spec.first_image, spec.image_count, h->image_count, *next_image);
  if (!status && spec.image_count > SKV_PKG_MAX_IMAGES)
    status = CORRUPT("%u images, more than %u", spec.image_count, SKV_PKG_MAX_IMAGES);
  skv_kernel_desc kernels[SKV_MAX_KERNELS];
  if (!status && spec.kernel_count > SKV_MAX_KERNELS)
    status = CORRUPT("%u kernels, more than %d", spec.kernel_count, SKV_MAX_KERNELS);
  for (uint32_t k = 0; !status && k < spec.kernel_count; ++k)
    skv_pkg_kernel_decode(data, h, spec.first_kernel + k, &kernels[k]);
  if (!status)
    status = skv_pkg_kernels_check(&spec, kernels, spec.kernel_count);
  if (status) {
    bool named = memchr(spec.name, '\0', SKV_NAME_MAX) && spec.name[0];
    return named ? skv_status_annotate(status, "spec %u (%s)", i, spec.name)
                 : skv_status_annotate(status, "spec %u", i);
  }
  *next_kernel += spec.kernel_count;
  *next_image += spec.image_count;
  *out_spec = spec;
  return SKV_OK;
}

/* A spec's name (in the file, NUL-terminated: verify_spec checked it) and
 * its index, sorted by name, then index. */
typedef struct named_spec {
  const char *name;
  uint32_t index;
} named_spec;

static int named_spec_order(const void *a, const void *b) {
  const named_spec *x = a, *y = b;
  int names = strcmp(x->name, y->name);
  if (names)
    return names;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* That no two specs share a name, in O(n log n) (n may be
 * SKV_PKG_MAX_SPECS: comparing every pair would take seconds). Names the
 * first spec in file order that repeats an earlier one. */
static skv_status verify_names(const uint8_t *data, const skv_pkg_header *h) {
  named_spec *sorted = malloc((size_t)h->spec_count * sizeof(*sorted));
  if (!sorted)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "sorting the names of %u specs", h->spec_count);
  for (uint32_t i = 0; i < h->spec_count; ++i) {
    sorted[i].name =
        (const char *)data + h->specs_offset + (uint64_t)i * SKV_PKG_SPEC_SIZE + SPEC_NAME;
    sorted[i].index = i;
  }
  qsort(sorted, h->spec_count, sizeof(*sorted), named_spec_order);
  uint32_t repeat = h->spec_count, first = 0, run = 0;
  for (uint32_t i = 1; i < h->spec_count; ++i) {
    if (strcmp(sorted[i].name, sorted[i - 1].name) != 0) {
      run = i;
      continue;
    }
    /* sorted[run] is the name's first spec, sorted[i] a later one. */
    if (sorted[i].index < repeat) {
      repeat = sorted[i].index;
      first = sorted[run].index;
    }
  }
  skv_status status = SKV_OK;
  if (repeat < h->spec_count)
    status = CORRUPT("spec %u (%s): name repeats spec %u's", repeat,
                     (const char *)data + h->specs_offset +
                         (uint64_t)repeat * SKV_PKG_SPEC_SIZE + SPEC_NAME,
                     first);
  free(sorted);
  return status;
}

/* What a cubin starts with: it is an ELF file. */
static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};

/* Image i of `spec` (owner of it), its resources, its blob at *blob_end
 * aligned (then past it), and its order after the spec's image before
 * (previous, NULL for the first). */
static skv_status verify_image(const uint8_t *data, size_t size, const skv_pkg_header *h,
                               uint32_t i, const skv_pkg_spec *spec,
                               const skv_pkg_image *previous, uint32_t *next_resource,
                               uint64_t *blob_end, skv_pkg_image *out_image) {
  skv_pkg_image image;
  skv_pkg_image_decode(data, h, i, &image);
  skv_status status = skv_pkg_image_check(&image);
  if (status)
    return skv_status_annotate(status, "image %u", i);
  const char *kind = skv_image_kind_name((skv_image_kind)image.kind);
  if (previous && (previous->kind > image.kind ||
                   (previous->kind == image.kind && previous->sm >= image.sm)))
    return CORRUPT("image %u (%s sm_%u) is not after spec %s's image before it (%s "
                   "sm_%u): images are sorted by kind and sm, each once",
                   i, kind, image.sm, spec->name,
                   skv_image_kind_name((skv_image_kind)previous->kind), previous->sm);
  if (image.first_resource != *next_resource || image.resource_count != spec->kernel_count ||
      !range_fits(image.first_resource, image.resource_count, 1, h->resource_count))
    return CORRUPT("image %u (%s sm_%u): resources [%u, +%u) are not the next %u of the "
                   "%u-record table (expected from %u)",
                   i, kind, image.sm, image.first_resource, image.resource_count,
                   spec->kernel_count, h->resource_count, *next_resource);
  for (uint32_t k = 0; k < image.resource_count; ++k) {
    skv_kernel_desc kernel;
    skv_kernel_resources r;
    skv_pkg_kernel_decode(data, h, spec->first_kernel + k, &kernel);
    skv_pkg_resources_decode(data, h, image.first_resource + k, &r);
    SKV_RETURN_IF_ERROR(skv_pkg_resources_check(&r, kernel.entry), "image %u (%s sm_%u)", i,
                        kind, image.sm);
  }
  uint64_t start = align_blob(*blob_end);
  if (image.offset != start || image.size == 0 || !range_fits(image.offset, image.size, 1, size))
    return CORRUPT("image %u (%s sm_%u): bytes [%llu, +%llu) are not the next blob of the "
                   "%zu-byte package (expected at %llu, not empty)",
                   i, kind, image.sm, (unsigned long long)image.offset,
                   (unsigned long long)image.size, size, (unsigned long long)start);
  for (uint64_t b = *blob_end; b < start; ++b)
    if (data[b] != 0)
      return CORRUPT("image %u (%s sm_%u): padding byte %llu before it is not zero", i,
                     kind, image.sm, (unsigned long long)b);
  /* cuModuleLoadData reads PTX as a C string. */
  if (image.kind == SKV_IMAGE_PTX && data[image.offset + image.size - 1] != 0)
    return CORRUPT("image %u (ptx sm_%u): PTX image not NUL-terminated", i, image.sm);
  if (image.kind == SKV_IMAGE_CUBIN &&
      (image.size < sizeof(elf_magic) ||
       memcmp(data + image.offset, elf_magic, sizeof(elf_magic)) != 0))
    return CORRUPT("image %u (cubin sm_%u): not an ELF file (no \\x7fELF at its start)", i,
                   image.sm);
  *next_resource += image.resource_count;
  *blob_end = image.offset + image.size;
  *out_image = image;
  return SKV_OK;
}

skv_status skv_pkg_verify(const uint8_t *data, size_t size, skv_pkg_header *out_header) {
  skv_pkg_header h;
  SKV_RETURN_IF_ERROR_PLAIN(verify_header(data, size, &h));
  uint32_t next_kernel = 0, next_image = 0, next_resource = 0;
  uint64_t blob_end = h.resources_offset + (uint64_t)h.resource_count * SKV_PKG_RESOURCES_SIZE;
  for (uint32_t s = 0; s < h.spec_count; ++s) {
    skv_pkg_spec spec;
    SKV_RETURN_IF_ERROR_PLAIN(verify_spec(data, &h, s, &next_kernel, &next_image, &spec));
    skv_pkg_image previous;
    for (uint32_t i = 0; i < spec.image_count; ++i) {
      skv_pkg_image image;
      SKV_RETURN_IF_ERROR_PLAIN(verify_image(data, size, &h, spec.first_image + i, &spec,
                                             i ? &previous : NULL, &next_resource,
                                             &blob_end, &image));
      previous = image;
    }
  }
  SKV_RETURN_IF_ERROR_PLAIN(verify_names(data, &h));
  if (next_kernel != h.kernel_count || next_image != h.image_count ||
      next_resource != h.resource_count)
    return CORRUPT("the specs own %u kernels, %u images and %u resource records, the "
                   "tables hold %u, %u and %u",
                   next_kernel, next_image, next_resource, h.kernel_count, h.image_count,
                   h.resource_count);
  if (blob_end != size)
    return CORRUPT("%llu bytes after the last image's end at %llu",
                   (unsigned long long)(size - blob_end), (unsigned long long)blob_end);
  *out_header = h;
  return SKV_OK;
}
