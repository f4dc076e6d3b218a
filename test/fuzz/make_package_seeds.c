/* Writes small valid kernel packages, the package loader fuzzer's seeds:
 *   make_package_seeds OUT_DIR
 * They come from the package writer (lib/package), so they follow the
 * format: the build regenerates them for every fuzz run, and the committed
 * copies in test/fuzz/corpus/package_open are refreshed with this program.
 * Real packages are ~100 KB of PTX per target; fake images keep the seeds to
 * a few hundred bytes, so mutations land on the tables the loader checks. */
#include <stdio.h>
#include <string.h>

#include "splitkv/package.h"

#include "pkg_record.h"

typedef struct seed_image {
  uint32_t spec;
  skv_image_kind kind;
  uint32_t sm;
  const char *bytes;
  size_t size;
} seed_image;

/* Builds one package from records and images and writes it to dir/name. */
static skv_status write_seed(const char *dir, const char *name,
                             const skv_pkg_spec *records, uint32_t spec_count,
                             const seed_image *images, size_t image_count) {
  skv_package_builder *builder = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(skv_package_builder_create(&builder));
  skv_status status = SKV_OK;
  for (uint32_t i = 0; !status && i < spec_count; ++i) {
    uint32_t index = 0;
    skv_kernel_desc kernels[SKV_TEST_KERNELS];
    skv_test_pkg_kernels(records[i].name, kernels);
    status = skv_package_builder_add_spec(builder, &records[i], kernels, SKV_TEST_KERNELS,
                                          &index);
  }
  for (size_t i = 0; !status && i < image_count; ++i) {
    /* Plausible resources, so the fuzzer starts from non-zero fields. */
    skv_kernel_resources resources[SKV_TEST_KERNELS] = {
        {.registers = 96, .shared_bytes = 4096, .stack_bytes = 16},
        {.registers = 96, .shared_bytes = 8192},
        {.registers = 56}};
    status = skv_package_builder_add_image(builder, images[i].spec, images[i].kind,
                                           images[i].sm, resources, images[i].bytes,
                                           images[i].size);
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (!status)
    status = skv_package_builder_write_file(builder, path);
  skv_package_builder_destroy(builder);
  return status ? skv_status_annotate(status, "%s", name) : SKV_OK;
}

static const char ptx[] = ".version 8.0\n.target sm_90\n.address_size 64\n";
static const char elf[] = "\x7f" "ELF\2\1\1";

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  skv_pkg_spec one = skv_test_pkg_record("tiny", 64, 4, 1, SKV_DTYPE_BF16, 0);
  seed_image one_ptx[] = {{0, SKV_IMAGE_PTX, 90, ptx, sizeof ptx}};

  skv_pkg_spec two[] = {
      skv_test_pkg_record("llama3_8b", 128, 32, 8, SKV_DTYPE_BF16, 0),
      skv_test_pkg_record("small_f16", 64, 8, 8, SKV_DTYPE_F16, 4),
  };
  seed_image two_images[] = {
      {0, SKV_IMAGE_PTX, 80, ptx, sizeof ptx},
      {0, SKV_IMAGE_PTX, 90, ptx, sizeof ptx},
      {0, SKV_IMAGE_CUBIN, 90, elf, sizeof elf},
      {1, SKV_IMAGE_PTX, 86, ptx, sizeof ptx - 1}, /* the writer adds the NUL */
  };

  skv_pkg_spec three[] = {
      skv_test_pkg_record("a", 256, 16, 16, SKV_DTYPE_F16, 1),
      skv_test_pkg_record("b", 96, 28, 4, SKV_DTYPE_BF16, 256),
      skv_test_pkg_record("c", 64, 1, 1, SKV_DTYPE_BF16, 0),
  };
  seed_image three_cubins[] = {
      {0, SKV_IMAGE_CUBIN, 80, elf, sizeof elf},
      {1, SKV_IMAGE_CUBIN, 89, elf, sizeof elf},
      {2, SKV_IMAGE_PTX, 80, ptx, sizeof ptx},
      {2, SKV_IMAGE_CUBIN, 80, elf, sizeof elf},
  };

  skv_status status = write_seed(dir, "one_spec_ptx.skvpkg", &one, 1, one_ptx, 1);
  if (!status)
    status = write_seed(dir, "two_specs_ptx_cubin.skvpkg", two, 2, two_images, 4);
  if (!status)
    status = write_seed(dir, "three_specs_cubins.skvpkg", three, 3,
                        three_cubins, 4);
  if (status) {
    fprintf(stderr, "make_package_seeds: %s\n", skv_status_message(status));
    skv_status_free(status);
    return 1;
  }
  return 0;
}
