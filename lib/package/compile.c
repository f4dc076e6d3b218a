/* A whole compile (compile.h): every spec for each of its targets through
 * the pipeline, then a stage's text, a package or C source embedding it. */
#define _POSIX_C_SOURCE 200809L /* mkdir, stat */
#include "splitkv/compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* One module's text (spec for target, the stage options->emit) to out,
 * after a comment line naming them. */
static skv_status write_module(FILE *out, const skv_compile_options *options,
                               skv_compiler *compiler, const skv_spec *spec, int target) {
  skv_kernel_plan plan;
  char *text = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(
      skv_compile_spec(compiler, spec, target, options->emit, &plan, &text));
  fprintf(out, "%s splitkv: spec %s, target sm_%d\n",
          options->emit == SKV_EMIT_LLVM ? ";" : "//", spec->name, target);
  fputs(text, out);
  fputc('\n', out);
  free(text);
  return SKV_OK;
}

/* The modules a text stage writes: one per spec and target. */
static long module_count(const skv_compile_options *options, const skv_spec_list *specs) {
  long count = 0;
  for (int i = 0; i < specs->count; ++i) {
    const int *targets;
    int n;
    spec_targets(options, &specs->specs[i], &targets, &n);
    count += n;
  }
  return count;
}

/* Opens path for writing (NULL: stdout). */
static skv_status open_output(const char *path, FILE **out_file) {
  *out_file = path ? fopen(path, "w") : stdout;
  if (!*out_file)
    return SKV_ERROR(SKV_CODE_IO_ERROR, "cannot open '%s' for writing: %s", path,
                     strerror(errno));
  return SKV_OK;
}

static skv_status close_output(FILE *out, const char *path, skv_status s) {
  if (out != stdout && fclose(out) != 0 && !s)
    s = SKV_ERROR(SKV_CODE_IO_ERROR, "cannot write '%s': %s", path, strerror(errno));
  return s;
}

/* Every module into directory dir (made if missing), one file each,
 * SPEC_TARGET.EXT: several modules in one file are not one valid module
 * (ptxas refuses a second .version). */
static skv_status write_text_files(const char *dir, const skv_compile_options *options,
                                   skv_compiler *compiler, const skv_spec_list *specs) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno != ENOENT || mkdir(dir, 0777) != 0)
      return SKV_ERROR(SKV_CODE_IO_ERROR, "cannot make the directory '%s': %s", dir,
                       strerror(errno));
  } else if (!S_ISDIR(st.st_mode)) {
    return INVALID("'%s' is not a directory, and %ld modules (specs x targets) are "
                   "written one file each into a directory",
                   dir, module_count(options, specs));
  }
  const char *ext = options->emit == SKV_EMIT_MLIR ? "mlir"
                    : options->emit == SKV_EMIT_LLVM ? "ll"
                                                     : "ptx";
  /* Spec names are at most SKV_NAME_MAX - 1 bytes, targets three digits. */
  size_t size = strlen(dir) + SKV_NAME_MAX + 16;
  char *path = malloc(size);
  if (!path)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "no memory for a file name in '%s'", dir);
  skv_status s = SKV_OK;
  for (int i = 0; i < specs->count && !s; ++i) {
    const int *targets;
    int n;
    spec_targets(options, &specs->specs[i], &targets, &n);
    for (int t = 0; t < n && !s; ++t) {
      snprintf(path, size, "%s/%s_sm_%d.%s", dir, specs->specs[i].name, targets[t], ext);
      FILE *out = NULL;
      s = open_output(path, &out);
      if (!s)
        s = close_output(out, path,
                         write_module(out, options, compiler, &specs->specs[i], targets[t]));
    }
  }
  free(path);
  return s;
}

/* A text stage: its one module to path (NULL: stdout), or every module
 * into directory path (write_text_files) when there are several or path
 * is a directory. */
static skv_status write_text(const char *path, const skv_compile_options *options,
                             skv_compiler *compiler, const skv_spec_list *specs) {
  long modules = module_count(options, specs);
  struct stat st;
  if (path && (modules > 1 || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))))
    return write_text_files(path, options, compiler, specs);
  if (modules > 1)
    return INVALID("%ld modules (specs x targets) need a directory to be written "
                   "to, one file each",
                   modules);
  const int *targets;
  int n;
  spec_targets(options, &specs->specs[0], &targets, &n);
  FILE *out = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(open_output(path, &out));
  return close_output(out, path, write_module(out, options, compiler, &specs->specs[0],
                                              targets[0]));
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
  if (options->emit != SKV_EMIT_C)
    return write_text(path, options, compiler, specs);
  skv_package_builder *builder = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(skv_package_compile(compiler, specs, options, &builder));
  FILE *out = NULL;
  skv_status s = open_output(path, &out);
  if (!s)
    s = close_output(out, path, write_c(out, symbol, builder, specs));
  skv_package_builder_destroy(builder);
  return s;
}
