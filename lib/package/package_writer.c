/* The package writer: collects records and images, lays them out in a fixed
 * order and encodes them with the runtime's package_format.c. */
#include "splitkv/package.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/kernel_abi.h"

#ifndef SKV_COMPILER_VERSION
#error "SKV_COMPILER_VERSION must be defined by the build (lib/package/CMakeLists.txt)"
#endif

/* Blobs start at multiples of this, so a reader may map them in place. */
#define SKV_BLOB_ALIGN 16u

typedef struct builder_image {
  uint32_t spec_index;
  skv_pkg_image record; /* offset and size are the writer's to fill */
  uint8_t *bytes;       /* owned */
  size_t size;
} builder_image;

struct skv_package_builder {
  skv_pkg_spec *specs;
  uint32_t spec_count, spec_capacity;
  builder_image *images;
  uint32_t image_count, image_capacity;
};

#define INVALID(...) SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, __VA_ARGS__)

skv_status skv_package_builder_create(skv_package_builder **out_builder) {
  skv_package_builder *builder = calloc(1, sizeof(*builder));
  if (!builder)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "package builder");
  *out_builder = builder;
  return SKV_OK;
}

void skv_package_builder_destroy(skv_package_builder *builder) {
  if (!builder)
    return;
  for (uint32_t i = 0; i < builder->image_count; ++i)
    free(builder->images[i].bytes);
  free(builder->images);
  free(builder->specs);
  free(builder);
}

/* Makes room for one more element of an array that doubles as it grows. */
static skv_status grow(void **items, uint32_t *capacity, uint32_t count,
                       size_t item_size) {
  if (count < *capacity)
    return SKV_OK;
  uint32_t new_capacity = *capacity ? *capacity * 2 : 8;
  void *grown = realloc(*items, (size_t)new_capacity * item_size);
  if (!grown)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "package builder tables");
  *items = grown;
  *capacity = new_capacity;
  return SKV_OK;
}

skv_status skv_package_builder_add_spec(skv_package_builder *builder,
                                        const skv_pkg_spec *record,
                                        uint32_t *out_index) {
  skv_status status = skv_pkg_spec_check(record);
  if (status) {
    /* A bad record here is the caller's mistake, not a damaged file. */
    skv_status invalid = INVALID("spec record: %s", skv_status_message(status));
    skv_status_free(status);
    return invalid;
  }
  for (uint32_t i = 0; i < builder->spec_count; ++i)
    if (strcmp(builder->specs[i].name, record->name) == 0)
      return INVALID("spec %s is already in the package (index %u)",
                     record->name, i);
  SKV_RETURN_IF_ERROR_PLAIN(grow((void **)&builder->specs,
                                 &builder->spec_capacity, builder->spec_count,
                                 sizeof(skv_pkg_spec)));
  skv_pkg_spec *copy = &builder->specs[builder->spec_count];
  *copy = *record;
  copy->first_image = 0;
  copy->image_count = 0;
  *out_index = builder->spec_count++;
  return SKV_OK;
}

skv_status skv_package_builder_add_image(skv_package_builder *builder,
                                         uint32_t spec_index,
                                         const skv_pkg_image *record,
                                         const void *bytes, size_t size) {
  if (spec_index >= builder->spec_count)
    return INVALID("spec index %u, the builder has %u specs", spec_index,
                   builder->spec_count);
  const char *spec_name = builder->specs[spec_index].name;
  skv_status status = skv_pkg_image_check(record);
  if (status) {
    /* A bad record here is the caller's mistake, not a damaged file. */
    skv_status invalid = INVALID("spec %s: image record: %s", spec_name,
                                 skv_status_message(status));
    skv_status_free(status);
    return invalid;
  }
  const char *kind = skv_image_kind_name((skv_image_kind)record->kind);
  if (!bytes || size == 0)
    return INVALID("spec %s: empty %s sm_%u image", spec_name, kind,
                   record->sm);
  for (uint32_t i = 0; i < builder->image_count; ++i) {
    const builder_image *other = &builder->images[i];
    if (other->spec_index == spec_index &&
        other->record.kind == record->kind && other->record.sm == record->sm)
      return INVALID("spec %s already has a %s sm_%u image", spec_name, kind,
                     record->sm);
  }
  /* The runtime hands PTX to the driver as a C string. */
  const uint8_t *text = bytes;
  size_t stored = size;
  if (record->kind == SKV_IMAGE_PTX && text[size - 1] != '\0')
    stored = size + 1;
  SKV_RETURN_IF_ERROR_PLAIN(grow((void **)&builder->images,
                                 &builder->image_capacity, builder->image_count,
                                 sizeof(builder_image)));
  uint8_t *copy = malloc(stored);
  if (!copy)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "spec %s: %zu-byte image",
                     spec_name, stored);
  memcpy(copy, bytes, size);
  if (stored > size)
    copy[size] = '\0';
  builder->images[builder->image_count++] = (builder_image){
      .spec_index = spec_index,
      .record = *record,
      .bytes = copy,
      .size = stored,
  };
  return SKV_OK;
}

/* The file's image order: by spec, then kind, then sm. Entries are unique
 * in that key, so the order never depends on the order images were added. */
static int image_order(const void *a, const void *b) {
  const builder_image *x = *(const builder_image *const *)a;
  const builder_image *y = *(const builder_image *const *)b;
  if (x->spec_index != y->spec_index)
    return x->spec_index < y->spec_index ? -1 : 1;
  if (x->record.kind != y->record.kind)
    return x->record.kind < y->record.kind ? -1 : 1;
  if (x->record.sm != y->record.sm)
    return x->record.sm < y->record.sm ? -1 : 1;
  return 0;
}

static uint64_t align_blob(uint64_t n) {
  return (n + SKV_BLOB_ALIGN - 1) / SKV_BLOB_ALIGN * SKV_BLOB_ALIGN;
}

skv_status skv_package_builder_write_memory(const skv_package_builder *builder,
                                            uint8_t **out_data,
                                            size_t *out_size) {
  if (builder->spec_count == 0)
    return INVALID("the package has no specs");
  skv_status status = SKV_OK;
  uint8_t *data = NULL;
  /* +1: malloc(0) may return NULL, which is not a failure here. */
  const builder_image **order =
      malloc(((size_t)builder->image_count + 1) * sizeof(*order));
  if (!order)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "package image order");
  for (uint32_t i = 0; i < builder->image_count; ++i)
    order[i] = &builder->images[i];
  qsort(order, builder->image_count, sizeof(*order), image_order);

  skv_pkg_header header;
  memset(&header, 0, sizeof(header));
  header.format_version = SKV_PACKAGE_FORMAT_VERSION;
  header.abi_version = SKV_KERNEL_ABI_VERSION;
  header.spec_count = builder->spec_count;
  header.image_count = builder->image_count;
  header.specs_offset = SKV_PKG_HEADER_SIZE;
  header.images_offset =
      header.specs_offset + (uint64_t)builder->spec_count * SKV_PKG_SPEC_SIZE;
  snprintf(header.compiler_version, sizeof(header.compiler_version), "%s",
           SKV_COMPILER_VERSION);
  uint64_t size =
      header.images_offset + (uint64_t)builder->image_count * SKV_PKG_IMAGE_SIZE;
  for (uint32_t i = 0; i < builder->image_count; ++i)
    size = align_blob(size) + order[i]->size;
  header.file_size = size;

  data = calloc(1, size); /* zeroed: padding is part of the checksum */
  if (!data) {
    status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "package of %llu bytes",
                       (unsigned long long)size);
    goto done;
  }
  uint32_t next_image = 0;
  for (uint32_t s = 0; s < builder->spec_count; ++s) {
    skv_pkg_spec record = builder->specs[s];
    record.first_image = next_image;
    while (next_image < builder->image_count &&
           order[next_image]->spec_index == s)
      ++next_image;
    record.image_count = next_image - record.first_image;
    if (record.image_count == 0) {
      status = INVALID("spec %s has no code image", record.name);
      goto done;
    }
    skv_pkg_spec_encode(&record, data + header.specs_offset +
                                     (uint64_t)s * SKV_PKG_SPEC_SIZE);
  }
  uint64_t blob = header.images_offset +
                  (uint64_t)builder->image_count * SKV_PKG_IMAGE_SIZE;
  for (uint32_t i = 0; i < builder->image_count; ++i) {
    blob = align_blob(blob);
    skv_pkg_image image = order[i]->record;
    image.offset = blob;
    image.size = order[i]->size;
    skv_pkg_image_encode(&image, data + header.images_offset +
                                     (uint64_t)i * SKV_PKG_IMAGE_SIZE);
    memcpy(data + blob, order[i]->bytes, order[i]->size);
    blob += order[i]->size;
  }
  header.checksum =
      skv_pkg_checksum(data + SKV_PKG_HEADER_SIZE, size - SKV_PKG_HEADER_SIZE);
  skv_pkg_header_encode(&header, data);

  /* What the runtime will check, checked here, where the bug can be fixed. */
  skv_pkg_header verified;
  status = skv_pkg_verify(data, size, &verified);
  if (status) {
    skv_status internal = SKV_ERROR(SKV_CODE_INTERNAL,
                                    "the package writer made a package the "
                                    "runtime rejects: %s",
                                    skv_status_message(status));
    skv_status_free(status);
    status = internal;
    goto done;
  }
  *out_data = data;
  *out_size = size;
  data = NULL;

done:
  free(data);
  free(order);
  return status;
}

skv_status skv_package_builder_write_file(const skv_package_builder *builder,
                                          const char *path) {
  uint8_t *data = NULL;
  size_t size = 0;
  SKV_RETURN_IF_ERROR(skv_package_builder_write_memory(builder, &data, &size),
                      "%s", path);
  skv_status status = SKV_OK;
  size_t path_length = strlen(path);
  char *temp = malloc(path_length + sizeof(".tmp"));
  if (!temp) {
    free(data);
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s", path);
  }
  memcpy(temp, path, path_length);
  memcpy(temp + path_length, ".tmp", sizeof(".tmp"));
  FILE *file = fopen(temp, "wb");
  if (!file) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot create: %s", temp,
                       strerror(errno));
    goto done;
  }
  int write_failed = fwrite(data, 1, size, file) != size;
  int write_errno = errno;
  if (fclose(file) != 0 && !write_failed) {
    write_failed = 1;
    write_errno = errno;
  }
  if (write_failed) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: write failed: %s", temp,
                       strerror(write_errno));
    remove(temp);
    goto done;
  }
  if (rename(temp, path) != 0) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot rename %s to it: %s",
                       path, temp, strerror(errno));
    remove(temp);
  }

done:
  free(temp);
  free(data);
  return status;
}
