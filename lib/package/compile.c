/* A whole compile (compile.h): every spec for each of its targets through
 * the pipeline, then a stage's text, a package or C source embedding it. */
#include "splitkv/compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INVALID(...) SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, __VA_ARGS__)

void skv_package_record(const skv_spec *spec, skv_pkg_spec *out_record) {
  skv_pkg_spec r;
  memset(&r, 0, sizeof(r));
  snprintf(r.name, sizeof(r.name), "%s", spec->name);
#define SKV_FIELD_COPY(member, id, type, min, max, fallback) r.member = spec->member;
  SKV_SPEC_FIELDS(SKV_FIELD_COPY)
#undef SKV_FIELD_COPY
  *out_record = r;
}

/* The targets one spec is built for: the options', else its own. */
static void spec_targets(const skv_compile_options *options, const skv_spec *spec,
                         const int **out_targets, int *out_count) {
  if (options->targets) {
    *out_targets = options->targets;
    *out_count = options->num_targets;
  } else {
    *out_targets = spec->targets;
    *out_count = spec->num_targets;
  }
}

/* One spec for each of its targets: spec -> PTX (skv_compile_spec) -> cubin
 * (skv_pipeline_assemble), then the images options->images asks for. The
 * PTX is assembled even when only PTX is stored: that checks it and gives
 * the kernels' resources for the package. */
static skv_status add_spec(skv_package_builder *builder, const skv_compile_options *options,
                           skv_compiler *compiler, const skv_spec *spec) {
  const int *targets;
  int n;
  spec_targets(options, spec, &targets, &n);
  uint32_t index = 0;
  for (int t = 0; t < n; ++t) {
    skv_kernel_plan plan;
    char *ptx = NULL;
    skv_cubin cubin = {0};
    SKV_RETURN_IF_ERROR_PLAIN(
        skv_compile_spec(compiler, spec, targets[t], SKV_EMIT_PTX, &plan, &ptx));
    skv_status s = skv_pipeline_assemble(compiler, ptx, &plan, &cubin);
    /* Every target's plan gives the same kernel set (names and blocks
     * follow from the spec): the first one is the spec's. */
    if (!s && t == 0) {
      skv_pkg_spec record;
      skv_package_record(spec, &record);
      s = skv_package_builder_add_spec(builder, &record, plan.kernels,
                                       (uint32_t)plan.kernel_count, &index);
    }
    if (!s && (options->images & SKV_IMAGES_PTX))
      s = skv_package_builder_add_image(builder, index, SKV_IMAGE_PTX, (uint32_t)targets[t],
                                        cubin.resources, ptx, strlen(ptx) + 1);
    if (!s && (options->images & SKV_IMAGES_CUBIN))
      s = skv_package_builder_add_image(builder, index, SKV_IMAGE_CUBIN,
                                        (uint32_t)targets[t], cubin.resources, cubin.data,
                                        cubin.size);
    free(cubin.data);
    free(ptx);
    SKV_RETURN_IF_ERROR(s, "%s for sm_%d", spec->name, targets[t]);
  }
  return SKV_OK;
}

skv_status skv_package_compile(skv_compiler *compiler, const skv_spec_list *specs,
                               const skv_compile_options *options,
                               skv_package_builder **out_builder) {
  if (options->images < SKV_IMAGES_PTX || options->images > SKV_IMAGES_BOTH)
    return INVALID("images %d is not ptx, cubin or both", (int)options->images);
  skv_package_builder *builder = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(skv_package_builder_create(&builder));
  skv_status s = SKV_OK;
  for (int i = 0; i < specs->count && !s; ++i)
    s = add_spec(builder, options, compiler, &specs->specs[i]);
  if (s) {
    skv_package_builder_destroy(builder);
    return s;
  }
  *out_builder = builder;
  return SKV_OK;
}

/* Every spec's stage text for each of its targets, each after a comment
 * line naming them. */
static skv_status write_text(FILE *out, const skv_compile_options *options,
                             skv_compiler *compiler, const skv_spec_list *specs) {
  for (int i = 0; i < specs->count; ++i) {
    const int *targets;
    int n;
    spec_targets(options, &specs->specs[i], &targets, &n);
    for (int t = 0; t < n; ++t) {
      skv_kernel_plan plan;
      char *text = NULL;
      SKV_RETURN_IF_ERROR_PLAIN(skv_compile_spec(compiler, &specs->specs[i], targets[t],
                                                 options->emit, &plan, &text));
      fprintf(out, "%s splitkv: spec %s, target sm_%d\n",
              options->emit == SKV_EMIT_LLVM ? ";" : "//", specs->specs[i].name, targets[t]);
      fputs(text, out);
      fputc('\n', out);
      free(text);
    }
  }
  return SKV_OK;
}

/* A C source embedding the package: its bytes in a static array and
 * `const unsigned char *SYMBOL(size_t *out_size)` returning them, for
 * skv_package_open_memory. */
static skv_status write_c(FILE *out, const char *symbol, const skv_package_builder *builder,
                          const skv_spec_list *specs) {
  uint8_t *data = NULL;
  size_t size = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_package_builder_write_memory(builder, &data, &size));
  fprintf(out,
          "/* Generated by splitkv-compile --emit=c: a splitkv kernel package (format\n"
          " * version %u, %zu bytes) holding",
          SKV_PACKAGE_FORMAT_VERSION, size);
  for (int i = 0; i < specs->count; ++i)
    fprintf(out, "%s %s", i ? "," : "", specs->specs[i].name);
  fprintf(out,
          ".\n"
          " * Open it with:\n"
          " *   size_t size;\n"
          " *   const unsigned char *bytes = %s(&size);\n"
          " *   skv_package_open_memory(bytes, size, &package); */\n"
          "#include <stddef.h>\n\n"
          "const unsigned char *%s(size_t *out_size);\n\n"
          "static const unsigned char %s_bytes[%zu] = {",
          symbol, symbol, symbol, size);
  for (size_t i = 0; i < size; ++i)
    fprintf(out, "%s%u,", i % 24 ? "" : "\n", data[i]);
  fprintf(out,
          "\n};\n\n"
          "const unsigned char *%s(size_t *out_size) {\n"
          "  *out_size = sizeof(%s_bytes);\n"
          "  return %s_bytes;\n"
          "}\n",
          symbol, symbol, symbol);
  free(data);
  return SKV_OK;
}

/* A C identifier, so --emit=c output compiles. */
static int is_c_identifier(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return 0;
  for (++s; *s; ++s)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_'))
      return 0;
  return 1;
}

skv_status skv_compile(skv_compiler *compiler, const skv_spec_list *specs,
                       const skv_compile_options *options, const char *path) {
  if (!compiler || !specs || !options || specs->count < 1)
    return INVALID("skv_compile needs a compiler, options and at least one spec");
  if (options->targets && options->num_targets < 1)
    return INVALID("an empty list of targets");
  for (int t = 0; options->targets && t < options->num_targets; ++t)
    if (!skv_target_known(options->targets[t]))
      return INVALID("sm_%d is not a target splitkv builds", options->targets[t]);
  if (options->emit == SKV_EMIT_PACKAGE) {
    if (!path)
      return INVALID("a package needs a file to be written to");
    skv_package_builder *builder = NULL;
    SKV_RETURN_IF_ERROR_PLAIN(skv_package_compile(compiler, specs, options, &builder));
    skv_status s = skv_package_builder_write_file(builder, path);
    skv_package_builder_destroy(builder);
    return s;
  }
  char default_symbol[SKV_NAME_MAX + 16];
  snprintf(default_symbol, sizeof(default_symbol), "skv_package_%s", specs->specs[0].name);
  const char *symbol = options->c_symbol ? options->c_symbol : default_symbol;
  if (options->emit == SKV_EMIT_C && !is_c_identifier(symbol))
    return INVALID("c_symbol '%s' is not a C identifier", symbol);
  skv_package_builder *builder = NULL;
  if (options->emit == SKV_EMIT_C)
    SKV_RETURN_IF_ERROR_PLAIN(skv_package_compile(compiler, specs, options, &builder));
  skv_status s = SKV_OK;
  FILE *out = path ? fopen(path, "w") : stdout;
  if (!out)
    s = SKV_ERROR(SKV_CODE_IO_ERROR, "cannot open '%s' for writing", path);
  else if (options->emit == SKV_EMIT_C)
    s = write_c(out, symbol, builder, specs);
  else
    s = write_text(out, options, compiler, specs);
  if (out && out != stdout && fclose(out) != 0 && !s)
    s = SKV_ERROR(SKV_CODE_IO_ERROR, "cannot write '%s'", path);
  skv_package_builder_destroy(builder);
  return s;
}
