/* Unit test of the spec parser: the real configs in specs/, the file shapes
 * (mapping, sequence, several documents), head-count derivation, every class
 * of error with its position, and a deterministic mutation run that must
 * never crash. */
#include "splitkv/spec.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Parses text that must be valid; NULL (and a failure counted) otherwise. */
static skv_spec_list *parse_ok(const char *text) {
  skv_spec_list *list = NULL;
  skv_status status = skv_spec_parse_string(text, strlen(text), "t.yaml", &list);
  CHECK_MSG(status == SKV_OK, "%s\n--- for input:\n%s", skv_status_message(status),
        text);
  skv_status_free(status);
  return list;
}

/* Parses text that must fail with code, with every one of the NULL-ended
 * fragments in the message. */
static void expect_error_code(const char *text, skv_status_code code, ...) {
  skv_spec_list *list = NULL;
  skv_status status = skv_spec_parse_string(text, strlen(text), "t.yaml", &list);
  CHECK_MSG(skv_status_code_of(status) == code, "code %s, message: %s\n--- for:\n%s",
        skv_status_code_name(skv_status_code_of(status)),
        skv_status_message(status), text);
  CHECK_MSG(list == NULL, "out_list set on failure");
  va_list args;
  va_start(args, code);
  for (const char *want = va_arg(args, const char *); want;
       want = va_arg(args, const char *))
    CHECK_MSG(strstr(skv_status_message(status), want) != NULL,
          "missing \"%s\" in:\n%s", want, skv_status_message(status));
  va_end(args);
  skv_status_free(status);
  skv_spec_list_destroy(list);
}

#define expect_error(text, ...)                                                \
  expect_error_code(text, SKV_CODE_PARSE_ERROR, __VA_ARGS__, (const char *)NULL)

static const char *const valid_spec = "name: m\n"
                                      "head_dim: 128\n"
                                      "num_q_heads: 32\n"
                                      "num_kv_heads: 8\n"
                                      "dtype: bf16\n"
                                      "target: sm_90\n";

static void check_spec(const skv_spec *spec, const char *name, int head_dim,
                       int q, int kv, skv_dtype dtype) {
  CHECK_MSG(strcmp(spec->name, name) == 0, "name %s, want %s", spec->name, name);
  CHECK_MSG(spec->head_dim == head_dim, "%s head_dim %d", name, spec->head_dim);
  CHECK_MSG(spec->num_q_heads == q, "%s num_q_heads %d", name, spec->num_q_heads);
  CHECK_MSG(spec->num_kv_heads == kv, "%s num_kv_heads %d", name,
        spec->num_kv_heads);
  CHECK_MSG(spec->dtype == dtype, "%s dtype %s", name, skv_dtype_name(spec->dtype));
  CHECK_MSG(spec->kv_layout == SKV_KV_CONTIGUOUS && spec->page_size == 0, "%s kv_layout",
            name);
}

static void test_spec_files(void) {
  printf("test_spec_files\n");
  static const struct {
    const char *file;
    const char *name;
    int head_dim, q, kv;
    skv_dtype dtype;
    double scale;
    int count; /* specs in the file */
  } cases[] = {
      {"llama3_8b", "llama3_8b", 128, 32, 8, SKV_DTYPE_BF16, 0, 1},
      {"llama3_70b", "llama3_70b", 128, 64, 8, SKV_DTYPE_BF16, 0, 1},
      {"llama3_405b", "llama3_405b", 128, 128, 8, SKV_DTYPE_BF16, 0, 1},
      {"mistral_7b", "mistral_7b", 128, 32, 8, SKV_DTYPE_BF16, 0, 2},
      {"qwen2_5_7b", "qwen2_5_7b", 128, 28, 4, SKV_DTYPE_BF16, 0, 1},
      {"codellama_34b", "codellama_34b", 128, 64, 8, SKV_DTYPE_BF16, 0, 1},
      {"gemma2_9b", "gemma2_9b", 256, 16, 8, SKV_DTYPE_BF16, 1.0 / 16, 2},
      {"llama2_7b", "llama2_7b", 128, 32, 32, SKV_DTYPE_F16, 0, 1},
      {"tinyllama_1_1b", "tinyllama_1_1b", 64, 32, 4, SKV_DTYPE_BF16, 0, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/specs/%s.yaml", SKV_SOURCE_DIR,
             cases[i].file);
    skv_spec_list *list = NULL;
    skv_status status = skv_spec_parse_file(path, &list);
    CHECK_MSG(status == SKV_OK, "%s", skv_status_message(status));
    skv_status_free(status);
    if (!list)
      continue;
    CHECK_MSG(list->count == cases[i].count, "%s: %d specs", path, list->count);
    const skv_spec *spec = &list->specs[0];
    check_spec(spec, cases[i].name, cases[i].head_dim, cases[i].q, cases[i].kv,
               cases[i].dtype);
    double scale = cases[i].scale ? cases[i].scale : 1.0 / sqrt(cases[i].head_dim);
    CHECK_MSG(fabs(spec->softmax_scale - scale) < 1e-7, "%s scale %g",
          spec->name, spec->softmax_scale);
    CHECK_MSG(spec->splits == 0, "%s splits %d", spec->name, spec->splits);
    CHECK_MSG(spec->num_targets == 2 && spec->targets[0] == 80 &&
              spec->targets[1] == 90,
          "%s targets", spec->name);
    CHECK_MSG(strcmp(spec->file, path) == 0, "%s file %s", spec->name, spec->file);
    CHECK_MSG(spec->line > 1 && spec->column == 7, "%s at %d:%d", spec->name,
          spec->line, spec->column);
    skv_spec_list_destroy(list);
  }

  /* The f16 twin of mistral_7b, in the file's second document. */
  skv_spec_list *list = NULL;
  skv_status status =
      skv_spec_parse_file(SKV_SOURCE_DIR "/specs/mistral_7b.yaml", &list);
  skv_status_free(status);
  if (list && list->count == 2)
    check_spec(&list->specs[1], "mistral_7b_f16", 128, 32, 8, SKV_DTYPE_F16);
  skv_spec_list_destroy(list);
}

static void test_file_shapes(void) {
  printf("test_file_shapes\n");
  /* Several documents. */
  skv_spec_list *list = parse_ok("name: a\nhead_dim: 64\nnum_q_heads: 8\n"
                                 "num_kv_heads: 8\ndtype: f16\ntarget: sm_80\n"
                                 "---\n"
                                 "name: b\nhead_dim: 96\nnum_q_heads: 16\n"
                                 "num_kv_heads: 2\ndtype: bf16\ntarget: sm_86\n"
                                 "...\n---\n"
                                 "---\n~\n");
  if (list) {
    CHECK_MSG(list->count == 2, "%d specs", list->count);
    check_spec(&list->specs[0], "a", 64, 8, 8, SKV_DTYPE_F16);
    check_spec(&list->specs[1], "b", 96, 16, 2, SKV_DTYPE_BF16);
    CHECK_MSG(list->specs[1].line == 8 && list->specs[1].column == 7, "b at %d:%d",
          list->specs[1].line, list->specs[1].column);
    CHECK_MSG(list->specs[1].targets[0] == 86, "b target");
  }
  skv_spec_list_destroy(list);

  /* A sequence, block and flow style mixed. */
  list = parse_ok("- name: a\n  head_dim: 256\n  num_q_heads: 8\n"
                  "  num_kv_heads: 1\n  dtype: bf16\n"
                  "  target: [sm_80, sm_86, sm_89, sm_90]\n"
                  "- {name: b, head_dim: 128, num_q_heads: 4, num_kv_heads: 2,"
                  " dtype: f16, target: sm_89, splits: 16, softmax_scale: 0.5}\n");
  if (list) {
    CHECK_MSG(list->count == 2, "%d specs", list->count);
    check_spec(&list->specs[0], "a", 256, 8, 1, SKV_DTYPE_BF16);
    CHECK_MSG(list->specs[0].num_targets == 4 && list->specs[0].targets[2] == 89,
          "a targets");
    check_spec(&list->specs[1], "b", 128, 4, 2, SKV_DTYPE_F16);
    CHECK_MSG(list->specs[1].splits == 16, "b splits %d", list->specs[1].splits);
    CHECK_MSG(list->specs[1].softmax_scale == 0.5f, "b scale %g",
          list->specs[1].softmax_scale);
    CHECK_MSG(list->specs[1].num_targets == 1 && list->specs[1].targets[0] == 89,
          "b target");
  }
  skv_spec_list_destroy(list);

  /* A paged cache: its page size; a contiguous one has none (0). */
  list = parse_ok("- {name: p, head_dim: 128, num_q_heads: 32, num_kv_heads: 8, dtype: bf16,"
                  " target: sm_90, kv_layout: paged, page_size: 16}\n"
                  "- {name: c, head_dim: 128, num_q_heads: 32, num_kv_heads: 8, dtype: bf16,"
                  " target: sm_90}\n");
  if (list) {
    CHECK_MSG(list->specs[0].kv_layout == SKV_KV_PAGED && list->specs[0].page_size == 16,
              "p: layout %d, page_size %d", list->specs[0].kv_layout,
              list->specs[0].page_size);
    CHECK_MSG(list->specs[1].kv_layout == SKV_KV_CONTIGUOUS && list->specs[1].page_size == 0,
              "c: layout %d, page_size %d", list->specs[1].kv_layout,
              list->specs[1].page_size);
  }
  skv_spec_list_destroy(list);

  /* Quoted names and enum words are strings like any other; a BOM and CRLF
   * line ends are fine. */
  list = parse_ok("\xef\xbb\xbfname: \"q\"\r\nhead_dim: 64\r\nnum_q_heads: 2\r\n"
                  "num_kv_heads: 1\r\ndtype: 'f16'\r\ntarget: \"sm_90\"\r\n"
                  "kv_layout: contiguous\r\nsplits: 1\r\n");
  if (list) {
    check_spec(&list->specs[0], "q", 64, 2, 1, SKV_DTYPE_F16);
    CHECK_MSG(list->specs[0].splits == 1, "splits");
  }
  skv_spec_list_destroy(list);
}

static void test_heads(void) {
  printf("test_heads\n");
  /* q and gqa_ratio give kv. */
  skv_spec_list *list = parse_ok("name: a\nhead_dim: 128\nnum_q_heads: 28\n"
                                 "gqa_ratio: 7\ndtype: bf16\ntarget: sm_90\n");
  if (list)
    check_spec(&list->specs[0], "a", 128, 28, 4, SKV_DTYPE_BF16);
  skv_spec_list_destroy(list);
  /* kv and gqa_ratio give q. */
  list = parse_ok("name: a\nhead_dim: 128\nnum_kv_heads: 8\ngqa_ratio: 8\n"
                  "dtype: bf16\ntarget: sm_90\n");
  if (list)
    check_spec(&list->specs[0], "a", 128, 64, 8, SKV_DTYPE_BF16);
  skv_spec_list_destroy(list);
  /* All three, agreeing. */
  list = parse_ok("name: a\nhead_dim: 128\nnum_q_heads: 32\nnum_kv_heads: 8\n"
                  "gqa_ratio: 4\ndtype: bf16\ntarget: sm_90\n");
  if (list)
    check_spec(&list->specs[0], "a", 128, 32, 8, SKV_DTYPE_BF16);
  skv_spec_list_destroy(list);
}

static void test_errors(void) {
  printf("test_errors\n");
  /* The whole message, once: position, source line, caret. */
  {
    const char *text = "name: m\n"
                       "head_dim: 128\n"
                       "num_q_heads: 32\n"
                       "num_kv_heads: 8\n"
                       "dtype: bf16\n"
                       "target: sm_90\n"
                       "head_dims: 128\n";
    skv_spec_list *list = NULL;
    skv_status status = skv_spec_parse_string(text, strlen(text), "t.yaml", &list);
    const char *want = "t.yaml:7:1: error: unknown key 'head_dims'; did you "
                       "mean 'head_dim'?\nhead_dims: 128\n^";
    CHECK_MSG(strcmp(skv_status_message(status), want) == 0, "got:\n%s\nwant:\n%s",
          skv_status_message(status), want);
    skv_status_free(status);
  }

  /* Malformed YAML: libyaml's problem at libyaml's position. */
  expect_error("name: m\nhead_dim: [128\n",
               "t.yaml:3:1: error: did not find expected ',' or ']'",
               "while parsing a flow sequence at line 2, column 11");
  expect_error("name: m\n  head_dim: 1\n",
               "t.yaml:2:11: error: mapping values are not allowed");
  expect_error("name: m\nhead_dim: *nothing\n", "t.yaml:2:11: error: found "
               "undefined alias");
  /* Reader errors give a byte offset, turned into line and column. */
  expect_error("name: m\nhead_dim: 1\xff\n", "t.yaml:2:12: error: invalid "
               "leading UTF-8 octet", "\nhead_dim: 1\xff\n           ^");
  expect_error("name: m\nhead\x01: 1\n", "t.yaml:2:5: error: control "
               "characters are not allowed");

  /* Unknown keys, with and without a near one. */
  expect_error("- name: m\n  head_dims: 128\n", "t.yaml:2:3: error: unknown "
               "key 'head_dims'; did you mean 'head_dim'?",
               "\n  head_dims: 128\n  ^");
  expect_error("name: m\nnum_kv_head: 8\n", "t.yaml:2:1: error: unknown key "
               "'num_kv_head'; did you mean 'num_kv_heads'?");
  expect_error("name: m\nflavour: 8\n", "t.yaml:2:1: error: unknown key "
               "'flavour'; known keys are name, head_dim");
  expect_error("name: m\n[a]: 8\n", "t.yaml:2:1: error: expected a key name, "
               "found a sequence");

  /* Wrong types. */
  expect_error("name: m\nhead_dim: [128]\n", "t.yaml:2:11: error: expected an "
               "integer for 'head_dim', found a sequence");
  expect_error("name: m\nhead_dim: 128.0\n", "t.yaml:2:11: error: expected an "
               "integer for 'head_dim', found '128.0'");
  expect_error("name: m\nhead_dim: \"128\"\n", "t.yaml:2:11: error: expected "
               "an integer for 'head_dim', found the quoted string '128'");
  expect_error("name: m\nhead_dim:\n", "t.yaml:2:1: error: 'head_dim' needs "
               "a value");
  expect_error("name: [m]\n", "t.yaml:1:7: error: expected a name for 'name', "
               "found a sequence");
  expect_error("name: m\nsplits: many\n", "t.yaml:2:9: error: expected 'auto' "
               "or an integer for 'splits', found 'many'");
  expect_error("name: m\nsoftmax_scale: .inf\n", "t.yaml:2:16: error: expected "
               "a number for 'softmax_scale', found '.inf'");
  expect_error("name: m\ntarget: {sm: 90}\n", "t.yaml:2:9: error: expected a "
               "target (sm_80, sm_86, sm_89, sm_90) or a list of them for "
               "'target', found a mapping");
  expect_error("name: m\ntarget: [sm_80, [sm_90]]\n", "t.yaml:2:17: error: "
               "expected a target (sm_80, sm_86, sm_89, sm_90) for 'target', "
               "found a sequence");
  expect_error("name: m\ndtype: [bf16]\n", "t.yaml:2:8: error: expected one of "
               "bf16, f16 for 'dtype', found a sequence");
  expect_error("42\n", "t.yaml:1:1: error: expected a spec (a mapping of keys) "
               "or a list of specs, found '42'");
  expect_error("- oops\n", "t.yaml:1:3: error: expected a spec (a "
               "mapping of keys), found 'oops'");

  /* Values out of range. */
  expect_error("name: m\nhead_dim: 100\n", "t.yaml:2:11: error: head_dim 100 "
               "is not supported; choose one of 64, 80, 96, 112, 128, 144, 160, 176, "
               "192, 208, 224, 240, 256",
               "\nhead_dim: 100\n          ^");
  expect_error("name: m\nnum_q_heads: 0\n", "t.yaml:2:14: error: num_q_heads 0 "
               "is out of range; use 1 to 1024");
  expect_error("name: m\nnum_kv_heads: 99999999999999999999999\n",
               "t.yaml:2:15: error: num_kv_heads 99999999999999999999999 is out "
               "of range");
  expect_error("name: m\nsplits: 0\n", "t.yaml:2:9: error: splits 0 is out of "
               "range; use auto or 1 to 256");
  expect_error("name: m\nsplits: 257\n", "splits 257 is out of range");
  expect_error("name: m\ndtype: fp16\n", "t.yaml:2:8: error: dtype 'fp16' is "
               "not supported; choose one of bf16, f16");
  expect_error("name: m\ntarget: [sm_80, sm_75]\n", "t.yaml:2:17: error: "
               "target 'sm_75' is not supported; choose one of sm_80, sm_86, "
               "sm_89, sm_90");
  expect_error("name: m\ntarget: []\n", "t.yaml:2:9: error: 'target' needs at "
               "least one target");
  expect_error("name: m\nsoftmax_scale: -0.1\n", "t.yaml:2:16: error: "
               "softmax_scale -0.1 is out of range; it must be a positive float");
  expect_error("name: m\nsoftmax_scale: 1e-60\n", "softmax_scale 1e-60 is out "
               "of range");
  expect_error("name: llama-3\n", "t.yaml:1:7: error: spec name 'llama-3' is "
               "not valid; use lowercase letters, digits and '_'");
  expect_error("name: Llama3\n", "t.yaml:1:7: error: spec name 'Llama3' must start "
               "with a lowercase letter");
  expect_error("name: "
               "a234567890123456789012345678901234567890123456789012345678901234"
               "\n",
               "t.yaml:1:7: error: spec name is 64 characters long; at most 63");
  /* Paged caches: a page_size with kv_layout paged, and only then. */
  expect_error("name: m\nhead_dim: 64\nnum_q_heads: 8\nnum_kv_heads: 8\ndtype: bf16\n"
               "target: sm_90\nkv_layout: paged\n",
               "t.yaml:7:12: error: kv_layout 'paged' needs a page_size (tokens per page, "
               "1 to 256)");
  expect_error("name: m\nhead_dim: 64\nnum_q_heads: 8\nnum_kv_heads: 8\ndtype: bf16\n"
               "target: sm_90\npage_size: 16\n",
               "t.yaml:7:1: error: page_size belongs to kv_layout 'paged'; this spec's "
               "cache is contiguous");
  expect_error("name: m\npage_size: 0\n", "t.yaml:2:12: error: page_size 0 is out of "
               "range; use 1 to 256");
  expect_error("name: m\npage_size: 257\n", "page_size 257 is out of range");
  expect_error("name: m\nkv_layout: ragged\n", "t.yaml:2:12: error: kv_layout "
               "'ragged' is not supported; choose one of contiguous");

  /* Head counts that don't fit together. */
  expect_error("name: m\nnum_q_heads: 32\nnum_kv_heads: 5\nhead_dim: 64\n"
               "dtype: bf16\ntarget: sm_90\n",
               "t.yaml:3:15: error: num_kv_heads 5 does not divide "
               "num_q_heads 32");
  expect_error("name: m\nnum_q_heads: 32\ngqa_ratio: 3\nhead_dim: 64\n"
               "dtype: bf16\ntarget: sm_90\n",
               "t.yaml:3:12: error: gqa_ratio 3 does not divide num_q_heads 32");
  expect_error("name: m\nnum_q_heads: 32\nnum_kv_heads: 8\ngqa_ratio: 2\n"
               "head_dim: 64\ndtype: bf16\ntarget: sm_90\n",
               "t.yaml:4:12: error: gqa_ratio 2 does not match num_q_heads / "
               "num_kv_heads = 32 / 8 = 4");
  expect_error("name: m\nnum_kv_heads: 512\ngqa_ratio: 4\nhead_dim: 64\n"
               "dtype: bf16\ntarget: sm_90\n",
               "t.yaml:3:12: error: num_kv_heads 512 * gqa_ratio 4 = 2048 "
               "query heads is out of range; at most 1024");

  /* Missing keys: at the mapping. */
  expect_error("# a comment\n\nname: m\nhead_dim: 64\nnum_q_heads: 8\n",
               "t.yaml:3:1: error: spec 'm' is missing required keys "
               "'num_kv_heads' (or 'gqa_ratio'), 'dtype', 'target'",
               "\nname: m\n^");
  expect_error("- {head_dim: 64, gqa_ratio: 2, dtype: f16, target: sm_80}\n",
               "t.yaml:1:3: error: spec is missing required keys 'name', "
               "'num_q_heads' or 'num_kv_heads'");
  expect_error("- {}\n", "t.yaml:1:3: error: spec is missing required keys "
               "'name', 'head_dim', 'num_q_heads', 'num_kv_heads', 'dtype', "
               "'target'");

  /* Duplicates: keys, targets, names. */
  expect_error("name: m\nhead_dim: 64\nhead_dim: 128\n", "t.yaml:3:1: error: "
               "duplicate key 'head_dim'; first given at line 2, column 1");
  expect_error("name: m\ntarget: [sm_90, sm_80, sm_90]\n", "t.yaml:2:24: "
               "error: duplicate target 'sm_90'");
  {
    char text[1024];
    snprintf(text, sizeof text, "%s---\n%s", valid_spec, valid_spec);
    expect_error(text, "t.yaml:8:7: error: duplicate spec name 'm'; first "
                 "defined at t.yaml:1:7", "\nname: m\n      ^");
  }

  /* Files with nothing in them. */
  expect_error("", "t.yaml: error: no specs in file");
  expect_error("# only a comment\n", "t.yaml: error: no specs in file");
  expect_error("---\n...\n", "t.yaml: error: no specs in file");
  expect_error("[]\n", "t.yaml: error: no specs in file");

  /* No file at all. */
  skv_spec_list *list = NULL;
  skv_status status = skv_spec_parse_file("/nonexistent/x.yaml", &list);
  CHECK_MSG(skv_status_code_of(status) == SKV_CODE_NOT_FOUND, "%s",
        skv_status_code_name(skv_status_code_of(status)));
  CHECK_MSG(strcmp(skv_status_message(status), "error: cannot open "
               "'/nonexistent/x.yaml': No such file or directory") == 0,
        "%s", skv_status_message(status));
  CHECK_MSG(list == NULL, "out_list set on failure");
  skv_status_free(status);
}

static void test_append(void) {
  printf("test_append\n");
  skv_spec_list *a = NULL, *b = NULL;
  skv_status status = skv_spec_parse_string(valid_spec, strlen(valid_spec),
                                            "a.yaml", &a);
  skv_status_free(status);
  const char *other = "# other\nname: n\nhead_dim: 64\nnum_q_heads: 4\n"
                      "num_kv_heads: 4\ndtype: f16\ntarget: sm_80\n";
  status = skv_spec_parse_string(other, strlen(other), "b.yaml", &b);
  skv_status_free(status);
  if (!a || !b) {
    CHECK_MSG(0, "parsing the two lists failed");
    return;
  }
  status = skv_spec_list_append(a, b);
  CHECK_MSG(status == SKV_OK, "%s", skv_status_message(status));
  skv_status_free(status);
  CHECK_MSG(a->count == 2 && strcmp(a->specs[1].name, "n") == 0, "appended");

  /* Appending again names both places, and leaves dst as it was. */
  status = skv_spec_list_append(a, b);
  CHECK_MSG(skv_status_code_of(status) == SKV_CODE_PARSE_ERROR, "code");
  CHECK_MSG(strcmp(skv_status_message(status),
               "b.yaml:2:7: error: duplicate spec name 'n'; first defined at "
               "b.yaml:2:7") == 0,
        "%s", skv_status_message(status));
  CHECK_MSG(a->count == 2, "dst changed on failure");
  skv_status_free(status);
  skv_spec_list_destroy(a);
  skv_spec_list_destroy(b);
}

/* Hostile inputs: self-referential aliases, deep nesting, and random byte
 * mutations of a valid file. Each must give OK or a PARSE_ERROR, and never
 * crash (run under ASan/valgrind to check memory too). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void expect_no_crash(const char *text, size_t size) {
  skv_spec_list *list = NULL;
  skv_status status = skv_spec_parse_string(text, size, "f.yaml", &list);
  skv_status_code code = skv_status_code_of(status);
  CHECK_MSG(code == SKV_CODE_OK || code == SKV_CODE_PARSE_ERROR, "%s: %s",
        skv_status_code_name(code), skv_status_message(status));
  CHECK_MSG((code == SKV_CODE_OK) == (list != NULL), "out_list vs status");
  skv_status_free(status);
  skv_spec_list_destroy(list);
}

static void test_hostile(void) {
  printf("test_hostile\n");
  const char *cases[] = {
      "&a [*a]\n",
      "&a {name: *a}\n",
      "- &s {name: m}\n- *s\n",
      "name: m\ntarget: &t [sm_80, *t]\n",
      "? - a\n: b\n",
      "!!binary aGk=\n",
      "%YAML 1.1\n--- !foo\nname: m\n",
      "name: \"\\0\"\n",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_no_crash(cases[i], strlen(cases[i]));
  expect_error("name: \"a\\0b\"\n", "spec name 'a\\x00b' is not valid");

  /* A long line is shown as a window around the mark. */
  {
    char text[512];
    snprintf(text, sizeof text, "name: m\nhead_dim:%200s100\n", "");
    char caret[128];
    snprintf(caret, sizeof caret, "\n   %60s^", "");
    expect_error(text, "t.yaml:2:210: error: head_dim 100 is not supported",
                 "\n...      ", "100\n", caret);
  }

  /* Nesting far deeper than any spec needs: rejected before libyaml's
   * quadratic cost in depth is paid. */
  expect_error("[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]\n",
               "t.yaml:1:17: error: nested more than 16 levels deep");
  enum { DEPTH = 200000 };
  char *deep = malloc(2 * DEPTH + 1);
  if (deep) {
    memset(deep, '[', DEPTH);
    memset(deep + DEPTH, ']', DEPTH);
    expect_no_crash(deep, 2 * DEPTH);
    free(deep);
  }

  size_t size = strlen(valid_spec);
  char buffer[256];
  for (int round = 0; round < 20000; round++) {
    memcpy(buffer, valid_spec, size);
    int edits = 1 + (int)(rng_next() % 4);
    for (int e = 0; e < edits; e++) {
      size_t at = rng_next() % size;
      static const char interesting[] = "[]{}:-,&*!|>'\"#\n\t ~0129abz\xff\xc3";
      buffer[at] = (rng_next() & 1)
                       ? (char)(rng_next() & 0xff)
                       : interesting[rng_next() % (sizeof interesting - 1)];
    }
    expect_no_crash(buffer, size - rng_next() % 8);
  }
}

int main(void) {
  test_spec_files();
  test_file_shapes();
  test_heads();
  test_errors();
  test_append();
  test_hostile();
  if (failures) {
    fprintf(stderr, "test_spec: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_spec: all passed\n");
  return 0;
}
