/* splitkv-compile: attention specs in, a kernel package (or one stage's text)
 * out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/package.h"
#include "splitkv/pipeline.h"
#include "splitkv/spec.h"

#ifndef SKV_DEFAULT_CUDA_ROOT
#define SKV_DEFAULT_CUDA_ROOT "/usr/local/cuda"
#endif

/* Stages past PTX, which only this tool emits. */
enum { EMIT_PACKAGE = -1, EMIT_C = -2 };

/* Which images a package holds per target (--images). */
enum { IMAGES_PTX = 1, IMAGES_CUBIN = 2, IMAGES_BOTH = 3 };

typedef struct options {
  int emit; /* skv_emit, EMIT_PACKAGE or EMIT_C */
  int images; /* IMAGES_* */
  const char *c_symbol; /* --c-symbol, or NULL for the default */
  const char *output;
  const char *cuda_root;
  int targets[SKV_MAX_TARGETS]; /* --target: overrides the specs' targets */
  int num_targets;
  const char *only_spec; /* --spec: compile just this one */
  const char **inputs;
  int num_inputs;
} options;

static void usage(FILE *f) {
  fputs("usage: splitkv-compile [options] SPEC.yaml...\n"
        "\n"
        "Compiles attention specs into split-KV decode attention kernels.\n"
        "\n"
        "  --emit=STAGE     stop after STAGE and print it:\n"
        "                     mlir     GPU dialect, before lowering\n"
        "                     llvm     LLVM IR (NVPTX)\n"
        "                     ptx      PTX\n"
        "                     package  a kernel package (default)\n"
        "                     c        C source embedding the package\n"
        "  -o FILE          write to FILE (default: stdout for text stages\n"
        "                   and c, <first spec name>.skvpkg for packages)\n"
        "  --target=LIST    sm_80,sm_90,...: build these targets instead of\n"
        "                   each spec's own\n"
        "  --images=KIND    what a package holds per target: both (default:\n"
        "                   a cubin, and PTX for newer GPUs), cubin or ptx\n"
        "  --c-symbol=NAME  --emit=c: the function returning the package's\n"
        "                   bytes (default skv_package_<first spec name>)\n"
        "  --spec=NAME      compile only the spec called NAME\n"
        "  --cuda=DIR       CUDA toolkit (libdevice), default " SKV_DEFAULT_CUDA_ROOT "\n"
        "  -h, --help       this text\n",
        f);
}

static int fail(const char *fmt, const char *arg) {
  fprintf(stderr, "splitkv-compile: error: ");
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  return 1;
}

static int parse_targets(const char *list, options *opt) {
  opt->num_targets = 0;
  const char *p = list;
  while (*p) {
    int sm = 0, used = 0;
    if (sscanf(p, "sm_%3d%n", &sm, &used) != 1 || !skv_target_known(sm) ||
        (p[used] != ',' && p[used] != '\0')) {
      char known[128];
      skv_targets_text(known, sizeof(known));
      fprintf(stderr, "splitkv-compile: error: --target: '%s' is not a list of %s\n", list,
              known);
      return 1;
    }
    if (opt->num_targets == SKV_MAX_TARGETS)
      return fail("--target: too many targets in '%s'", list);
    opt->targets[opt->num_targets++] = sm;
    p += used + (p[used] == ',');
  }
  return opt->num_targets ? 0 : fail("--target: empty list%s", "");
}

/* A C identifier, so --emit=c output compiles. */
static int is_c_identifier(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return 0;
  for (++s; *s; ++s)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

/* Returns 0 and fills opt, or 1 after printing why; 2 for --help. */
static int parse_args(int argc, char **argv, options *opt) {
  memset(opt, 0, sizeof(*opt));
  opt->emit = EMIT_PACKAGE;
  opt->images = IMAGES_BOTH;
  opt->cuda_root = SKV_DEFAULT_CUDA_ROOT;
  opt->inputs = calloc((size_t)argc, sizeof(char *));
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 2;
    } else if (!strncmp(a, "--emit=", 7)) {
      const char *s = a + 7;
      if (!strcmp(s, "mlir")) opt->emit = SKV_EMIT_MLIR;
      else if (!strcmp(s, "llvm")) opt->emit = SKV_EMIT_LLVM;
      else if (!strcmp(s, "ptx")) opt->emit = SKV_EMIT_PTX;
      else if (!strcmp(s, "package")) opt->emit = EMIT_PACKAGE;
      else if (!strcmp(s, "c")) opt->emit = EMIT_C;
      else return fail("unknown --emit stage '%s' (mlir, llvm, ptx, package, c)", s);
    } else if (!strncmp(a, "--images=", 9)) {
      const char *s = a + 9;
      if (!strcmp(s, "both")) opt->images = IMAGES_BOTH;
      else if (!strcmp(s, "cubin")) opt->images = IMAGES_CUBIN;
      else if (!strcmp(s, "ptx")) opt->images = IMAGES_PTX;
      else return fail("unknown --images kind '%s' (both, cubin, ptx)", s);
    } else if (!strncmp(a, "--c-symbol=", 11)) {
      opt->c_symbol = a + 11;
      if (!is_c_identifier(opt->c_symbol))
        return fail("--c-symbol: '%s' is not a C identifier", opt->c_symbol);
    } else if (!strcmp(a, "-o")) {
      if (++i == argc)
        return fail("-o needs a file name%s", "");
      opt->output = argv[i];
    } else if (!strncmp(a, "--target=", 9)) {
      if (parse_targets(a + 9, opt))
        return 1;
    } else if (!strncmp(a, "--spec=", 7)) {
      opt->only_spec = a + 7;
    } else if (!strncmp(a, "--cuda=", 7)) {
      opt->cuda_root = a + 7;
    } else if (a[0] == '-' && a[1] != '\0') {
      return fail("unknown option '%s' (see --help)", a);
    } else {
      opt->inputs[opt->num_inputs++] = a;
    }
  }
  if (opt->num_inputs == 0)
    return fail("no spec files given (see --help)%s", "");
  return 0;
}

static skv_status parse_specs(const options *opt, skv_spec_list *all) {
  for (int i = 0; i < opt->num_inputs; ++i) {
    skv_spec_list *list = NULL;
    SKV_RETURN_IF_ERROR_PLAIN(skv_spec_parse_file(opt->inputs[i], &list));
    skv_status s = skv_spec_list_append(all, list);
    skv_spec_list_destroy(list);
    SKV_RETURN_IF_ERROR_PLAIN(s);
  }
  if (!opt->only_spec)
    return SKV_OK;
  for (int i = 0; i < all->count; ++i) {
    if (!strcmp(all->specs[i].name, opt->only_spec)) {
      all->specs[0] = all->specs[i];
      all->count = 1;
      return SKV_OK;
    }
  }
  return SKV_ERROR(SKV_CODE_NOT_FOUND, "splitkv-compile: error: --spec: no spec named '%s' in the input files",
                   opt->only_spec);
}

/* The targets one spec is built for: --target, else its own. */
static void spec_targets(const options *opt, const skv_spec *spec,
                         const int **out_targets, int *out_count) {
  if (opt->num_targets) {
    *out_targets = opt->targets;
    *out_count = opt->num_targets;
  } else {
    *out_targets = spec->targets;
    *out_count = spec->num_targets;
  }
}

static skv_status write_text(FILE *out, const options *opt,
                             skv_compiler *compiler, const skv_spec_list *specs) {
  for (int i = 0; i < specs->count; ++i) {
    const int *targets;
    int n;
    spec_targets(opt, &specs->specs[i], &targets, &n);
    for (int t = 0; t < n; ++t) {
      skv_kernel_plan plan;
      char *text = NULL;
      SKV_RETURN_IF_ERROR_PLAIN(skv_compile_spec(compiler, &specs->specs[i], targets[t],
                                                 (skv_emit)opt->emit, &plan, &text));
      fprintf(out, "%s splitkv: spec %s, target sm_%d\n",
              opt->emit == SKV_EMIT_LLVM ? ";" : "//", specs->specs[i].name, targets[t]);
      fputs(text, out);
      fputc('\n', out);
      free(text);
    }
  }
  return SKV_OK;
}

/* Adds one image of a spec; the resources come from the assembled cubin
 * (for PTX: what compiling it for its own target gives). */
static skv_status add_image(skv_package_builder *builder, uint32_t index,
                            skv_image_kind kind, int sm, const skv_cubin *cubin,
                            const void *bytes, size_t size) {
  skv_pkg_image record;
  memset(&record, 0, sizeof(record));
  record.kind = kind;
  record.sm = (uint32_t)sm;
  record.split = cubin->split;
  record.combine = cubin->combine;
  record.split_wide = cubin->split_wide;
  return skv_package_builder_add_image(builder, index, &record, bytes, size);
}

/* One spec for each of its targets: spec -> PTX (skv_compile_spec) -> cubin
 * (skv_pipeline_assemble), then the images --images asks for. The PTX is
 * assembled even when only PTX is stored: that checks it and gives the
 * kernels' resources for the manifest. */
static skv_status add_spec(skv_package_builder *builder, const options *opt,
                           skv_compiler *compiler, const skv_spec *spec) {
  const int *targets;
  int n;
  spec_targets(opt, spec, &targets, &n);
  uint32_t index = 0;
  for (int t = 0; t < n; ++t) {
    skv_kernel_plan plan;
    char *ptx = NULL;
    skv_cubin cubin = {0};
    SKV_RETURN_IF_ERROR_PLAIN(
        skv_compile_spec(compiler, spec, targets[t], SKV_EMIT_PTX, &plan, &ptx));
    skv_status s = skv_pipeline_assemble(compiler, ptx, &plan, &cubin);
    if (!s && t == 0) {
      skv_pkg_spec record;
      skv_codegen_manifest(spec, &plan, &record);
      s = skv_package_builder_add_spec(builder, &record, &index);
    }
    if (!s && (opt->images & IMAGES_PTX))
      s = add_image(builder, index, SKV_IMAGE_PTX, targets[t], &cubin, ptx,
                    strlen(ptx) + 1);
    if (!s && (opt->images & IMAGES_CUBIN))
      s = add_image(builder, index, SKV_IMAGE_CUBIN, targets[t], &cubin,
                    cubin.data, cubin.size);
    free(cubin.data);
    free(ptx);
    SKV_RETURN_IF_ERROR(s, "%s for sm_%d", spec->name, targets[t]);
  }
  return SKV_OK;
}

/* Every spec for every target, in a new builder (*out_builder, owned by
 * the caller). */
static skv_status package_build(const options *opt, skv_compiler *compiler,
                                const skv_spec_list *specs,
                                skv_package_builder **out_builder) {
  skv_package_builder *builder = NULL;
  SKV_RETURN_IF_ERROR_PLAIN(skv_package_builder_create(&builder));
  skv_status s = SKV_OK;
  for (int i = 0; i < specs->count && !s; ++i)
    s = add_spec(builder, opt, compiler, &specs->specs[i]);
  if (s) {
    skv_package_builder_destroy(builder);
    return s;
  }
  *out_builder = builder;
  return SKV_OK;
}

/* Writes a C source embedding the package: its bytes in a static array and
 * `const unsigned char *SYMBOL(size_t *out_size)` returning them, for
 * skv_package_open_memory. */
static skv_status write_c(FILE *out, const char *symbol,
                          const skv_package_builder *builder,
                          const skv_spec_list *specs) {
  uint8_t *data = NULL;
  size_t size = 0;
  SKV_RETURN_IF_ERROR_PLAIN(skv_package_builder_write_memory(builder, &data, &size));
  fprintf(out,
          "/* Generated by splitkv-compile --emit=c: a splitkv kernel package "
          "(format\n"
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

/* Writes the text stages or the C source to -o (default stdout). */
static skv_status write_output(const options *opt, skv_compiler *compiler,
                               const skv_spec_list *specs) {
  skv_package_builder *builder = NULL;
  if (opt->emit == EMIT_C)
    SKV_RETURN_IF_ERROR_PLAIN(package_build(opt, compiler, specs, &builder));
  skv_status s = SKV_OK;
  FILE *out = opt->output ? fopen(opt->output, "w") : stdout;
  if (!out) {
    s = SKV_ERROR(SKV_CODE_IO_ERROR, "cannot open '%s' for writing", opt->output);
  } else if (opt->emit == EMIT_C) {
    char symbol[SKV_NAME_MAX + 16];
    snprintf(symbol, sizeof(symbol), "skv_package_%s", specs->specs[0].name);
    s = write_c(out, opt->c_symbol ? opt->c_symbol : symbol, builder, specs);
  } else {
    s = write_text(out, opt, compiler, specs);
  }
  if (out && out != stdout && fclose(out) != 0 && !s)
    s = SKV_ERROR(SKV_CODE_IO_ERROR, "cannot write '%s'", opt->output);
  skv_package_builder_destroy(builder);
  return s;
}

static skv_status run(const options *opt) {
  skv_spec_list all = {0};
  skv_compiler *compiler = NULL;
  skv_status s = parse_specs(opt, &all);
  if (!s)
    s = skv_compiler_create(opt->cuda_root, &compiler);
  if (!s && opt->emit == EMIT_PACKAGE) {
    char path[512];
    if (opt->output)
      snprintf(path, sizeof(path), "%s", opt->output);
    else
      snprintf(path, sizeof(path), "%s.skvpkg", all.specs[0].name);
    skv_package_builder *builder = NULL;
    s = package_build(opt, compiler, &all, &builder);
    if (!s)
      s = skv_package_builder_write_file(builder, path);
    skv_package_builder_destroy(builder);
  } else if (!s) {
    s = write_output(opt, compiler, &all);
  }
  skv_compiler_destroy(compiler);
  free(all.specs);
  return s;
}

int main(int argc, char **argv) {
  options opt;
  int rc = parse_args(argc, argv, &opt);
  if (rc) {
    free(opt.inputs);
    return rc == 2 ? 0 : 1;
  }
  skv_status s = run(&opt);
  free(opt.inputs);
  if (s) {
    /* Spec errors already read "file:line:col: error: ..." */
    if (skv_status_code_of(s) == SKV_CODE_PARSE_ERROR ||
        skv_status_code_of(s) == SKV_CODE_NOT_FOUND)
      fprintf(stderr, "%s\n", skv_status_message(s));
    else
      fprintf(stderr, "splitkv-compile: error: %s\n", skv_status_message(s));
    skv_status_free(s);
    return 1;
  }
  return 0;
}
