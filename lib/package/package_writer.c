/* The package writer: collects records and images, lays them out in a fixed
 * order and encodes them with the runtime's package_format.c. */
#include "splitkv/package.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SKV_COMPILER_VERSION
#error "SKV_COMPILER_VERSION must be defined by the build (lib/package/CMakeLists.txt)"
#endif

typedef struct builder_spec {
  skv_pkg_spec record; /* ranges are the writer's to fill */
  skv_kernel_desc kernels[SKV_MAX_KERNELS];
} builder_spec;

typedef struct builder_image {
  uint32_t spec_index;
  skv_pkg_image record; /* kind and sm; the rest is the writer's to fill */
  skv_kernel_resources resources[SKV_MAX_KERNELS];
  uint8_t *bytes;       /* owned */
  size_t size;
} builder_image;

struct skv_package_builder {
  builder_spec *specs;
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

/* A check's CORRUPT_PACKAGE as the caller's mistake: a bad record here is
 * not a damaged file. */
static skv_status as_invalid(skv_status status, const char *context) {
  if (!status)
    return SKV_OK;
  skv_status invalid = INVALID("%s: %s", context, skv_status_message(status));
  skv_status_free(status);
  return invalid;
}

skv_status skv_package_builder_add_spec(skv_package_builder *builder,
                                        const skv_pkg_spec *record,
                                        const skv_kernel_desc *kernels,
                                        uint32_t kernel_count, uint32_t *out_index) {
  SKV_RETURN_IF_ERROR_PLAIN(as_invalid(skv_pkg_spec_check(record), "spec record"));
  SKV_RETURN_IF_ERROR_PLAIN(
      as_invalid(skv_pkg_kernels_check(record, kernels, kernel_count), record->name));
  if (builder->spec_count >= SKV_PKG_MAX_SPECS)
    return INVALID("spec %s: the package already holds %u specs, the most the runtime "
                   "reads (SKV_PKG_MAX_SPECS)",
                   record->name, builder->spec_count);
  for (uint32_t i = 0; i < builder->spec_count; ++i)
    if (strcmp(builder->specs[i].record.name, record->name) == 0)
      return INVALID("spec %s is already in the package (index %u)", record->name, i);
  SKV_RETURN_IF_ERROR_PLAIN(grow((void **)&builder->specs, &builder->spec_capacity,
                                 builder->spec_count, sizeof(builder_spec)));
  builder_spec *copy = &builder->specs[builder->spec_count];
  memset(copy, 0, sizeof(*copy));
  copy->record = *record;
  copy->record.kernel_count = kernel_count;
  memcpy(copy->kernels, kernels, kernel_count * sizeof(*kernels));
  *out_index = builder->spec_count++;
  return SKV_OK;
}

skv_status skv_package_builder_add_image(skv_package_builder *builder,
                                         uint32_t spec_index, skv_image_kind kind,
                                         uint32_t sm,
                                         const skv_kernel_resources *resources,
                                         const void *bytes, size_t size) {
  if (spec_index >= builder->spec_count)
    return INVALID("spec index %u, the builder has %u specs", spec_index,
                   builder->spec_count);
  const builder_spec *spec = &builder->specs[spec_index];
  const char *spec_name = spec->record.name;
  skv_pkg_image record;
  memset(&record, 0, sizeof(record));
  record.kind = kind;
  record.sm = sm;
  char context[SKV_NAME_MAX + 32];
  snprintf(context, sizeof(context), "spec %s: image record", spec_name);
  SKV_RETURN_IF_ERROR_PLAIN(as_invalid(skv_pkg_image_check(&record), context));
  for (uint32_t k = 0; k < spec->record.kernel_count; ++k)
    SKV_RETURN_IF_ERROR_PLAIN(
        as_invalid(skv_pkg_resources_check(&resources[k], spec->kernels[k].entry), context));
  const char *kind_name = skv_image_kind_name(kind);
  if (!bytes || size == 0)
    return INVALID("spec %s: empty %s sm_%u image", spec_name, kind_name, sm);
  uint32_t images = 0;
  for (uint32_t i = 0; i < builder->image_count; ++i) {
    const builder_image *other = &builder->images[i];
    images += other->spec_index == spec_index;
    if (other->spec_index == spec_index && other->record.kind == kind && other->record.sm == sm)
      return INVALID("spec %s already has a %s sm_%u image", spec_name, kind_name, sm);
  }
  if (images >= SKV_PKG_MAX_IMAGES)
    return INVALID("spec %s: %s sm_%u would be its image %u, more than the runtime reads "
                   "(SKV_PKG_MAX_IMAGES)",
                   spec_name, kind_name, sm, images + 1);
  /* The runtime hands PTX to the driver as a C string. */
  const uint8_t *text = bytes;
  size_t stored = size;
  if (kind == SKV_IMAGE_PTX && text[size - 1] != '\0')
    stored = size + 1;
  SKV_RETURN_IF_ERROR_PLAIN(grow((void **)&builder->images, &builder->image_capacity,
                                 builder->image_count, sizeof(builder_image)));
  uint8_t *copy = malloc(stored);
  if (!copy)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "spec %s: %zu-byte image", spec_name, stored);
  memcpy(copy, bytes, size);
  if (stored > size)
    copy[size] = '\0';
  builder_image *image = &builder->images[builder->image_count++];
  memset(image, 0, sizeof(*image));
  image->spec_index = spec_index;
  image->record = record;
  memcpy(image->resources, resources, spec->record.kernel_count * sizeof(*resources));
  image->bytes = copy;
  image->size = stored;
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
  return (n + SKV_PKG_BLOB_ALIGN - 1) / SKV_PKG_BLOB_ALIGN * SKV_PKG_BLOB_ALIGN;
}

skv_status skv_package_builder_write_memory(const skv_package_builder *builder,
                                            uint8_t **out_data, size_t *out_size) {
  if (builder->spec_count == 0)
    return INVALID("the package has no specs");
  skv_status status = SKV_OK;
  uint8_t *data = NULL;
  /* +1: malloc(0) may return NULL, which is not a failure here. */
  const builder_image **order = malloc(((size_t)builder->image_count + 1) * sizeof(*order));
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
  for (uint32_t s = 0; s < builder->spec_count; ++s)
    header.kernel_count += builder->specs[s].record.kernel_count;
  for (uint32_t i = 0; i < builder->image_count; ++i)
    header.resource_count += builder->specs[order[i]->spec_index].record.kernel_count;
  header.specs_offset = SKV_PKG_HEADER_SIZE;
  header.kernels_offset =
      header.specs_offset + (uint64_t)header.spec_count * SKV_PKG_SPEC_SIZE;
  header.images_offset =
      header.kernels_offset + (uint64_t)header.kernel_count * SKV_PKG_KERNEL_SIZE;
  header.resources_offset =
      header.images_offset + (uint64_t)header.image_count * SKV_PKG_IMAGE_SIZE;
  snprintf(header.compiler_version, sizeof(header.compiler_version), "%s",
           SKV_COMPILER_VERSION);
  uint64_t size =
      header.resources_offset + (uint64_t)header.resource_count * SKV_PKG_RESOURCES_SIZE;
  for (uint32_t i = 0; i < builder->image_count; ++i)
    size = align_blob(size) + order[i]->size;
  header.file_size = size;

  data = calloc(1, size); /* zeroed: padding is part of the checksum */
  if (!data) {
    status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "package of %llu bytes",
                       (unsigned long long)size);
    goto done;
  }
  uint32_t next_kernel = 0, next_image = 0;
  for (uint32_t s = 0; s < builder->spec_count; ++s) {
    const builder_spec *spec = &builder->specs[s];
    skv_pkg_spec record = spec->record;
    record.first_kernel = next_kernel;
    for (uint32_t k = 0; k < record.kernel_count; ++k)
      skv_pkg_kernel_encode(&spec->kernels[k], data + header.kernels_offset +
                                                   (uint64_t)next_kernel++ *
                                                       SKV_PKG_KERNEL_SIZE);
    record.first_image = next_image;
    while (next_image < builder->image_count && order[next_image]->spec_index == s)
      ++next_image;
    record.image_count = next_image - record.first_image;
    if (record.image_count == 0) {
      status = INVALID("spec %s has no code image", record.name);
      goto done;
    }
    skv_pkg_spec_encode(&record, data + header.specs_offset + (uint64_t)s * SKV_PKG_SPEC_SIZE);
  }
  uint32_t next_resource = 0;
  uint64_t blob = header.resources_offset + (uint64_t)header.resource_count * SKV_PKG_RESOURCES_SIZE;
  for (uint32_t i = 0; i < builder->image_count; ++i) {
    const builder_image *source = order[i];
    uint32_t kernels = builder->specs[source->spec_index].record.kernel_count;
    blob = align_blob(blob);
    skv_pkg_image image = source->record;
    image.offset = blob;
    image.size = source->size;
    image.first_resource = next_resource;
    image.resource_count = kernels;
    skv_pkg_image_encode(&image, data + header.images_offset + (uint64_t)i * SKV_PKG_IMAGE_SIZE);
    for (uint32_t k = 0; k < kernels; ++k)
      skv_pkg_resources_encode(&source->resources[k],
                               data + header.resources_offset +
                                   (uint64_t)next_resource++ * SKV_PKG_RESOURCES_SIZE);
    memcpy(data + blob, source->bytes, source->size);
    blob += source->size;
  }
  skv_pkg_header_encode(&header, data);
  header.checksum = skv_pkg_file_checksum(data, size);
  skv_pkg_header_encode(&header, data);

  /* What the runtime will check, checked here, where the bug can be fixed. */
  skv_pkg_header verified;
  status = skv_pkg_verify(data, size, &verified);
  if (status) {
    skv_status internal = SKV_ERROR(SKV_CODE_INTERNAL,
                                    "the package writer made a package the runtime "
                                    "rejects: %s",
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
  SKV_RETURN_IF_ERROR(skv_package_builder_write_memory(builder, &data, &size), "%s", path);
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
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot create: %s", temp, strerror(errno));
    goto done;
  }
  int write_failed = fwrite(data, 1, size, file) != size;
  int write_errno = errno;
  if (fclose(file) != 0 && !write_failed) {
    write_failed = 1;
    write_errno = errno;
  }
  if (write_failed) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: write failed: %s", temp, strerror(write_errno));
    remove(temp);
    goto done;
  }
  if (rename(temp, path) != 0) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot rename %s to it: %s", path, temp,
                       strerror(errno));
    remove(temp);
  }

done:
  free(temp);
  free(data);
  return status;
}
