/* splitkv-compile: attention specs in, a kernel package (or one stage's text)
 * out. It parses its arguments and the spec files; skv_compile (compile.h)
 * does the rest. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/compile.h"
#include "splitkv/spec.h"

#ifndef SKV_DEFAULT_CUDA_ROOT
#define SKV_DEFAULT_CUDA_ROOT "/usr/local/cuda"
#endif

typedef struct options {
  skv_emit emit;
  skv_images images;
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
        "  -o PATH          write to PATH (default: stdout for text stages\n"
        "                   and c, <first spec name>.skvpkg for packages).\n"
        "                   A text stage writes one module per spec and\n"
        "                   target; with several, PATH is a directory\n"
        "                   (made if missing) of SPEC_TARGET.mlir|ll|ptx\n"
        "                   files, and without -o they are refused\n"
        "  --target=LIST    sm_80,sm_90,...: build these targets instead of\n"
        "                   each spec's own\n"
        "  --images=KIND    what a package holds per target: both (default:\n"
        "                   a cubin, and PTX for newer GPUs), cubin or ptx\n"
        "  --c-symbol=NAME  --emit=c: the function returning the package's\n"
        "                   bytes (default skv_package_<first spec name>)\n"
        "  --spec=NAME      compile only the spec called NAME\n"
        "  --cuda=DIR       CUDA toolkit (libdevice), default " SKV_DEFAULT_CUDA_ROOT "\n"
        "  -h, --help       this text\n"
        "\n"
        "Options take their value as --opt=VALUE or --opt VALUE.\n",
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
    for (int i = 0; i < opt->num_targets; ++i)
      if (opt->targets[i] == sm) {
        fprintf(stderr, "splitkv-compile: error: --target: sm_%d is given twice in '%s'\n",
                sm, list);
        return 1;
      }
    if (opt->num_targets == SKV_MAX_TARGETS)
      return fail("--target: too many targets in '%s'", list);
    opt->targets[opt->num_targets++] = sm;
    p += used + (p[used] == ',');
  }
  return opt->num_targets ? 0 : fail("--target: empty list%s", "");
}

/* getopt_long's codes for the long-only options. */
enum {
  OPT_EMIT = 256,
  OPT_IMAGES,
  OPT_C_SYMBOL,
  OPT_TARGET,
  OPT_SPEC,
  OPT_CUDA,
};

/* Returns 0 and fills opt, or 1 after printing why; 2 for --help. Options
 * follow getopt_long: `--target=sm_80` or `--target sm_80`, `-o FILE` or
 * `-oFILE`, `--` ends them. */
static int parse_args(int argc, char **argv, options *opt) {
  static const struct option long_options[] = {
      {"emit", required_argument, NULL, OPT_EMIT},
      {"images", required_argument, NULL, OPT_IMAGES},
      {"c-symbol", required_argument, NULL, OPT_C_SYMBOL},
      {"target", required_argument, NULL, OPT_TARGET},
      {"spec", required_argument, NULL, OPT_SPEC},
      {"cuda", required_argument, NULL, OPT_CUDA},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  memset(opt, 0, sizeof(*opt));
  opt->emit = SKV_EMIT_PACKAGE;
  opt->images = SKV_IMAGES_BOTH;
  opt->cuda_root = SKV_DEFAULT_CUDA_ROOT;
  opt->inputs = calloc((size_t)argc, sizeof(char *));
  if (!opt->inputs)
    return fail("out of memory%s", "");
  opterr = 0; /* our messages, not getopt's */
  int c;
  while ((c = getopt_long(argc, argv, ":ho:", long_options, NULL)) != -1) {
    const char *s = optarg;
    switch (c) {
    case 'h':
      usage(stdout);
      return 2;
    case OPT_EMIT:
      if (!strcmp(s, "mlir")) opt->emit = SKV_EMIT_MLIR;
      else if (!strcmp(s, "llvm")) opt->emit = SKV_EMIT_LLVM;
      else if (!strcmp(s, "ptx")) opt->emit = SKV_EMIT_PTX;
      else if (!strcmp(s, "package")) opt->emit = SKV_EMIT_PACKAGE;
      else if (!strcmp(s, "c")) opt->emit = SKV_EMIT_C;
      else return fail("unknown --emit stage '%s' (mlir, llvm, ptx, package, c)", s);
      break;
    case OPT_IMAGES:
      if (!strcmp(s, "both")) opt->images = SKV_IMAGES_BOTH;
      else if (!strcmp(s, "cubin")) opt->images = SKV_IMAGES_CUBIN;
      else if (!strcmp(s, "ptx")) opt->images = SKV_IMAGES_PTX;
      else return fail("unknown --images kind '%s' (both, cubin, ptx)", s);
      break;
    case OPT_C_SYMBOL:
      opt->c_symbol = s;
      break;
    case 'o':
      opt->output = s;
      break;
    case OPT_TARGET:
      if (parse_targets(s, opt))
        return 1;
      break;
    case OPT_SPEC:
      opt->only_spec = s;
      break;
    case OPT_CUDA:
      opt->cuda_root = s;
      break;
    case ':': /* an option without its value: name it as it was given */
      return fail("%s needs a value (see --help)", argv[optind - 1]);
    default:
      return fail("unknown option '%s' (see --help)", argv[optind - 1]);
    }
  }
  for (int i = optind; i < argc; ++i)
    opt->inputs[opt->num_inputs++] = argv[i];
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

/* A text stage to stdout is one module: with several (specs x targets),
 * which one, or a directory for all of them. */
static skv_status check_text_output(const options *opt, const skv_spec_list *all) {
  if (opt->output || opt->emit == SKV_EMIT_PACKAGE || opt->emit == SKV_EMIT_C)
    return SKV_OK;
  int modules = 0;
  for (int i = 0; i < all->count; ++i)
    modules += opt->num_targets ? opt->num_targets : all->specs[i].num_targets;
  if (modules <= 1)
    return SKV_OK;
  static const char *const stages[] = {[SKV_EMIT_MLIR] = "mlir", [SKV_EMIT_LLVM] = "llvm",
                                       [SKV_EMIT_PTX] = "ptx"};
  return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                   "--emit=%s writes one module per spec and target, and these inputs "
                   "make %d: pick one with --spec=NAME and --target=sm_XX, or give -o DIR "
                   "for a file each (SPEC_TARGET.%s)",
                   stages[opt->emit], modules,
                   opt->emit == SKV_EMIT_LLVM ? "ll" : stages[opt->emit]);
}

static skv_status run(const options *opt) {
  skv_spec_list all = {0};
  skv_compiler *compiler = NULL;
  skv_status s = parse_specs(opt, &all);
  if (!s)
    s = check_text_output(opt, &all);
  if (!s)
    s = skv_compiler_create(opt->cuda_root, &compiler);
  if (!s) {
    skv_compile_options options = {
        .emit = opt->emit,
        .images = opt->images,
        .targets = opt->num_targets ? opt->targets : NULL,
        .num_targets = opt->num_targets,
        .c_symbol = opt->c_symbol,
    };
    char path[512];
    const char *output = opt->output;
    if (!output && opt->emit == SKV_EMIT_PACKAGE) {
      snprintf(path, sizeof(path), "%s.skvpkg", all.specs[0].name);
      output = path;
    }
    s = skv_compile(compiler, &all, &options, output);
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
    /* Spec errors already read "file:line:col: error: ...", and so do
     * the parser's other failures ("file: error: out of memory"). */
    if (skv_status_code_of(s) == SKV_CODE_PARSE_ERROR ||
        skv_status_code_of(s) == SKV_CODE_NOT_FOUND ||
        strstr(skv_status_message(s), "error: "))
      fprintf(stderr, "%s\n", skv_status_message(s));
    else
      fprintf(stderr, "splitkv-compile: error: %s\n", skv_status_message(s));
    skv_status_free(s);
    return 1;
  }
  return 0;
}
