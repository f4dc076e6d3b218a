/* Packages: read, verify and decode once; afterwards immutable. */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "package_internal.h"

/* Verifies data (size bytes, ownership taken whatever the outcome) and
 * decodes every record into a new package. */
static skv_status package_adopt(uint8_t *data, size_t size,
                                skv_package **out_package) {
  skv_status status = SKV_OK;
  skv_package *package = calloc(1, sizeof(*package));
  if (!package) {
    free(data);
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "package object");
  }
  package->data = data;
  package->size = size;
  status = skv_pkg_verify(data, size, &package->header);
  if (status)
    goto fail;
  const skv_pkg_header *h = &package->header;
  /* +1: calloc(0) may return NULL, which is not a failure here. */
  package->specs = calloc((size_t)h->spec_count + 1, sizeof(skv_pkg_spec));
  package->kernels = calloc((size_t)h->kernel_count + 1, sizeof(skv_kernel_desc));
  package->images = calloc((size_t)h->image_count + 1, sizeof(skv_pkg_image));
  package->resources =
      calloc((size_t)h->resource_count + 1, sizeof(skv_kernel_resources));
  if (!package->specs || !package->kernels || !package->images || !package->resources) {
    status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY,
                       "package tables (%u specs, %u kernels, %u images, %u resources)",
                       h->spec_count, h->kernel_count, h->image_count, h->resource_count);
    goto fail;
  }
  for (uint32_t i = 0; i < h->spec_count; ++i)
    skv_pkg_spec_decode(data, h, i, &package->specs[i]);
  for (uint32_t i = 0; i < h->kernel_count; ++i)
    skv_pkg_kernel_decode(data, h, i, &package->kernels[i]);
  for (uint32_t i = 0; i < h->image_count; ++i)
    skv_pkg_image_decode(data, h, i, &package->images[i]);
  for (uint32_t i = 0; i < h->resource_count; ++i)
    skv_pkg_resources_decode(data, h, i, &package->resources[i]);
  *out_package = package;
  return SKV_OK;

fail:
  skv_package_destroy(package);
  return status;
}

skv_status skv_package_open_memory(const void *data, size_t size,
                                   skv_package **out_package) {
  if (!data || !out_package)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, "%s is NULL",
                     !data ? "data" : "out_package");
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "package copy of %zu bytes", size);
  memcpy(copy, data, size);
  return package_adopt(copy, size, out_package);
}

skv_status skv_package_open_file(const char *path, skv_package **out_package) {
  if (!path || !out_package)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, "%s is NULL",
                     !path ? "path" : "out_package");
  skv_status status = SKV_OK;
  uint8_t *data = NULL;
  FILE *file = fopen(path, "rb");
  if (!file)
    return SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot open: %s", path,
                     strerror(errno));
  /* Only a regular file has the size a package is read by (a directory
   * "ends" at 2^63 bytes). */
  struct stat st;
  if (fstat(fileno(file), &st) != 0) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot stat: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: not a package file: %s", path,
                       S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
    goto done;
  }
  long end = -1;
  if (fseek(file, 0, SEEK_END) == 0)
    end = ftell(file);
  if (end < 0 || fseek(file, 0, SEEK_SET) != 0) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot seek: %s", path,
                       strerror(errno));
    goto done;
  }
  size_t size = (size_t)end;
  data = malloc(size ? size : 1);
  if (!data) {
    status = SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%s: %zu bytes", path, size);
    goto done;
  }
  if (fread(data, 1, size, file) != size) {
    status = SKV_ERROR(SKV_CODE_IO_ERROR, "%s: short read: %s", path,
                       ferror(file) ? strerror(errno) : "file shrank");
    goto done;
  }
  skv_package *package = NULL;
  status = package_adopt(data, size, &package);
  data = NULL; /* adopted, freed or not */
  if (status) {
    status = skv_status_annotate(status, "%s", path);
    goto done;
  }
  *out_package = package;

done:
  free(data);
  fclose(file);
  return status;
}

void skv_package_destroy(skv_package *package) {
  if (!package)
    return;
  free(package->resources);
  free(package->images);
  free(package->kernels);
  free(package->specs);
  free(package->data);
  free(package);
}

void skv_package_digest(const skv_package *package, uint8_t out_digest[32]) {
  skv_sha256(package->data, package->size, out_digest);
}

uint32_t skv_package_spec_count(const skv_package *package) {
  return package->header.spec_count;
}

void skv_pkg_spec_info(const skv_pkg_spec *record, skv_spec_info *out_info) {
  skv_spec_info info = {
      .name = record->name,
      .dtype = (skv_dtype)record->dtype,
      .head_dim = (int)record->head_dim,
      .num_q_heads = (int)record->num_q_heads,
      .num_kv_heads = (int)record->num_kv_heads,
      .splits = (int)record->splits,
      .softmax_scale = record->softmax_scale,
      .kv_layout = record->kv_layout,
      .page_size = record->page_size,
      .logit_softcap = record->logit_softcap,
      .sliding_window = record->sliding_window,
      .max_query_len = record->max_query_len,
  };
  *out_info = info;
}

skv_status skv_package_spec_info(const skv_package *package, uint32_t index,
                                 skv_spec_info *out_info) {
  if (!package || !out_info)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, "%s is NULL",
                     !package ? "package" : "out_info");
  if (index >= package->header.spec_count)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "spec index %u is out of range: the package has %u specs", index,
                     package->header.spec_count);
  skv_pkg_spec_info(&package->specs[index], out_info);
  return SKV_OK;
}

const skv_pkg_spec *skv_package_spec_at(const skv_package *package,
                                        uint32_t i) {
  if (i >= package->header.spec_count)
    return NULL;
  return &package->specs[i];
}

const skv_pkg_header *skv_package_header(const skv_package *package) {
  return &package->header;
}

const skv_kernel_desc *skv_package_kernel_at(const skv_package *package, uint32_t i) {
  if (i >= package->header.kernel_count)
    return NULL;
  return &package->kernels[i];
}

const skv_pkg_image *skv_package_image_at(const skv_package *package,
                                          uint32_t i) {
  if (i >= package->header.image_count)
    return NULL;
  return &package->images[i];
}

const skv_kernel_resources *skv_package_resources_at(const skv_package *package,
                                                         uint32_t i) {
  if (i >= package->header.resource_count)
    return NULL;
  return &package->resources[i];
}
