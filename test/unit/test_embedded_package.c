/* A package linked into the program as C (splitkv-compile --emit=c, run at
 * build time: see CMakeLists.txt) opens from memory with every spec, both
 * targets and both image kinds, and the kernels' resources. */
#include <stdio.h>
#include <string.h>

#include "splitkv/package_records.h"

#include "check.h"

/* Defined by the generated embedded_package.c. */
const unsigned char *skv_test_embedded_package(size_t *out_size);

int main(void) {
  size_t size = 0;
  const unsigned char *bytes = skv_test_embedded_package(&size);
  skv_package *package = NULL;
  skv_status status = skv_package_open_memory(bytes, size, &package);
  if (status) {
    fprintf(stderr, "skv_package_open_memory: %s\n",
            skv_status_message(status));
    skv_status_free(status);
    return 1;
  }
  const skv_pkg_header *header = skv_package_header(package);
  printf("embedded package: %zu bytes, format version %u, %u specs, %u "
         "images\n",
         size, header->format_version, header->spec_count, header->image_count);
  CHECK(header->file_size == size);
  CHECK(header->format_version == SKV_PACKAGE_FORMAT_VERSION);
  /* tinyllama_1_1b.yaml holds one spec, mistral_7b.yaml two. */
  static const char *const names[] = {"tinyllama_1_1b", "mistral_7b",
                                      "mistral_7b_f16"};
  CHECK(skv_package_spec_count(package) == 3);
  for (uint32_t i = 0; i < skv_package_spec_count(package) && i < 3; ++i) {
    const skv_pkg_spec *spec = skv_package_spec_at(package, i);
    printf("  %s: %u images\n", spec->name, spec->image_count);
    CHECK(strcmp(spec->name, names[i]) == 0);
    /* --target=sm_80,sm_90, default images: ptx and cubin for each, in
     * (kind, sm) order. */
    CHECK(spec->image_count == 4);
    static const uint32_t kinds[] = {SKV_IMAGE_PTX, SKV_IMAGE_PTX,
                                     SKV_IMAGE_CUBIN, SKV_IMAGE_CUBIN};
    static const uint32_t sms[] = {80, 90, 80, 90};
    for (uint32_t j = 0; j < spec->image_count && j < 4; ++j) {
      const skv_pkg_image *image =
          skv_package_image_at(package, spec->first_image + j);
      CHECK(image->kind == kinds[j] && image->sm == sms[j]);
      for (uint32_t k = 0; k < image->resource_count; ++k)
        CHECK(skv_package_resources_at(package, image->first_resource + k)->registers > 0);
    }
  }
  CHECK(skv_package_image_at(package, header->image_count) == NULL);
  skv_package_destroy(package);
  if (failures) {
    fprintf(stderr, "test_embedded_package: %d failures\n", failures);
    return 1;
  }
  printf("test_embedded_package: all passed\n");
  return 0;
}
