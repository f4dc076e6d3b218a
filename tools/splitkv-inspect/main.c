/* splitkv-inspect: what a kernel package holds, for people (a table) or
 * machines (--json). Reads the package with the runtime's verifier, so a
 * package it shows is one the runtime accepts; needs no GPU, driver or
 * compiler. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitkv/package_records.h"

static void usage(FILE *f) {
  fputs("usage: splitkv-inspect [--json] PACKAGE\n"
        "\n"
        "Shows a kernel package: format version, the compiler that wrote it,\n"
        "its targets, and per spec its fields, kernels and images with each\n"
        "kernel's registers, shared memory, stack and spills.\n"
        "\n"
        "  --json      machine-readable output\n"
        "  -h, --help  this text\n",
        f);
}

/* ---- names -------------------------------------------------------------- */

/* A package's names are checked only for their terminating NUL (the
 * verifier accepts any bytes before it), so a damaged or hostile package
 * can hold terminal escapes or bytes that are not UTF-8: inspect must
 * neither pass the first to a terminal nor break JSON with the second. */

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no
 * overlong forms, surrogates or code points past U+10FFFF), or 0. Sets
 * *out_code to its code point. */
static int utf8_sequence(const unsigned char *s, unsigned *out_code) {
  unsigned c = s[0];
  int length;
  unsigned code, min;
  if (c < 0x80) {
    *out_code = c;
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    length = 2, code = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3, code = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4, code = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  for (int i = 1; i < length; ++i) {
    if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
      return 0;
    code = code << 6 | (s[i] & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
    return 0;
  *out_code = code;
  return length;
}

/* C0 and C1 controls and DEL: what a terminal may act on. */
static bool is_control(unsigned code) {
  return code < 0x20 || (code >= 0x7F && code <= 0x9F);
}

/* A name as text: printable UTF-8 as it is, a control character or a byte
 * that is not UTF-8 as \\xNN (each byte), a backslash as \\\\, so what is
 * shown is what the package holds and nothing reaches the terminal raw.
 * out holds at least 4 * strlen(in) + 1 bytes. */
static void escape_text(const char *in, char *out) {
  const unsigned char *s = (const unsigned char *)in;
  while (*s) {
    unsigned code = 0;
    int length = utf8_sequence(s, &code);
    if (length == 0 || is_control(code)) {
      for (int i = 0; i < (length ? length : 1); ++i)
        out += sprintf(out, "\\x%02x", s[i]);
      s += length ? length : 1;
    } else if (code == '\\') {
      out += sprintf(out, "\\\\");
      s += 1;
    } else {
      memcpy(out, s, (size_t)length);
      out += length;
      s += length;
    }
  }
  *out = '\0';
}

/* A name of the package (NUL-terminated within SKV_ENTRY_MAX bytes, the
 * longest field: the verifier checks it), escaped. */
typedef struct shown {
  char text[4 * SKV_ENTRY_MAX + 1];
} shown;

static shown show(const char *name) {
  shown s;
  escape_text(name, s.text);
  return s;
}

/* Any string (the path), escaped to stdout. */
static void print_escaped(const char *text) {
  char *escaped = malloc(4 * strlen(text) + 1);
  if (!escaped) {
    fputs("?", stdout);
    return;
  }
  escape_text(text, escaped);
  fputs(escaped, stdout);
  free(escaped);
}

/* Which kinds of image exist per target across the whole package: bit
 * (1 << kind) of kinds[sm] (the verifier bounds sm to [10, 999]). */
typedef struct targets {
  unsigned char kinds[1000];
} targets;

static void targets_collect(const skv_package *package, targets *out) {
  memset(out, 0, sizeof(*out));
  for (uint32_t i = 0; i < skv_package_header(package)->image_count; ++i) {
    const skv_pkg_image *image = skv_package_image_at(package, i);
    out->kinds[image->sm] |= (unsigned char)(1u << image->kind);
  }
}

/* ---- text ----------------------------------------------------------------- */

static void print_targets_text(const targets *t) {
  const char *separator = "";
  for (int sm = 0; sm < 1000; ++sm) {
    if (!t->kinds[sm])
      continue;
    int cubin = t->kinds[sm] & (1u << SKV_IMAGE_CUBIN);
    int ptx = t->kinds[sm] & (1u << SKV_IMAGE_PTX);
    printf("%ssm_%d (%s%s%s)", separator, sm, cubin ? "cubin" : "",
           cubin && ptx ? ", " : "", ptx ? "ptx" : "");
    separator = ", ";
  }
  printf("\n");
}

static void print_resources_row(const char *image_column, uint64_t size, const char *entry,
                                const skv_kernel_resources *r) {
  char bytes[24] = "";
  if (size)
    snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)size);
  printf("  %-12s %9s  %-28s %4u %7u %6u %8u/%u\n", image_column, bytes, show(entry).text,
         r->registers,
         r->shared_bytes, r->stack_bytes, r->spill_store_bytes, r->spill_load_bytes);
}

/* "key value, key value, ..." (text) or "\"key\": value, ..." (JSON) for
 * every field of SKV_SPEC_FIELDS. */
static void print_fields(const skv_pkg_spec *spec, int json) {
  char value[64];
  const char *separator = "";
#define SKV_FIELD_PRINT(member, id, type, min, max, fallback)                  \
  skv_field_show_##type(spec->member, json, value, (int)sizeof(value));        \
  printf(json ? "%s\"%s\": %s" : "%s%s %s", separator, #member, value);          \
  separator = ", ";
  SKV_SPEC_FIELDS(SKV_FIELD_PRINT)
#undef SKV_FIELD_PRINT
}

static void print_spec_text(const skv_package *package, const skv_pkg_spec *spec) {
  printf("\nspec %s: ", show(spec->name).text);
  print_fields(spec, 0);
  printf("\n  %-28s %-8s %7s %9s %12s\n", "kernel", "role", "threads", "dyn smem",
         "tokens/step");
  for (uint32_t k = 0; k < spec->kernel_count; ++k) {
    const skv_kernel_desc *kernel = skv_package_kernel_at(package, spec->first_kernel + k);
    printf("  %-28s %-8s %7u %9u %12u\n", show(kernel->entry).text, skv_kernel_role_name((skv_kernel_role)kernel->role),
           kernel->threads, kernel->dynamic_smem_bytes, kernel->tokens_per_step);
  }
  printf("  %-12s %9s  %-28s %4s %7s %6s %s\n", "image", "bytes", "kernel", "regs", "smem",
         "stack", "spill st/ld");
  for (uint32_t i = 0; i < spec->image_count; ++i) {
    const skv_pkg_image *image = skv_package_image_at(package, spec->first_image + i);
    char column[24];
    snprintf(column, sizeof(column), "%-5s sm_%u",
             skv_image_kind_name((skv_image_kind)image->kind), image->sm);
    for (uint32_t k = 0; k < image->resource_count; ++k)
      print_resources_row(k ? "" : column, k ? 0 : image->size,
                          skv_package_kernel_at(package, spec->first_kernel + k)->entry,
                          skv_package_resources_at(package, image->first_resource + k));
  }
}

/* The package's SHA-256 (skv_package_digest) as 64 hex digits. */
static void digest_hex(const skv_package *package, char out[65]) {
  uint8_t digest[32];
  skv_package_digest(package, digest);
  for (int i = 0; i < 32; ++i)
    snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static void print_text(const char *path, const skv_package *package) {
  const skv_pkg_header *h = skv_package_header(package);
  targets t;
  targets_collect(package, &t);
  print_escaped(path);
  printf(": splitkv package, format version %u, kernel ABI %u, %llu bytes\n",
         h->format_version, h->abi_version,
         (unsigned long long)h->file_size);
  printf("written by %s\n", show(h->compiler_version).text);
  printf("%u specs, %u kernels, %u images; targets: ", h->spec_count, h->kernel_count,
         h->image_count);
  print_targets_text(&t);
  for (uint32_t i = 0; i < h->spec_count; ++i)
    print_spec_text(package, skv_package_spec_at(package, i));
  char digest[65];
  digest_hex(package, digest);
  printf("\nsha256 %s\n", digest);
}

/* ---- JSON ----------------------------------------------------------------- */

/* A JSON string (RFC 8259): quotes, backslashes and control characters
 * (DEL and C1 too, for terminals) escaped, other UTF-8 as it is, and each
 * byte that is not UTF-8 as U+FFFD, so the output is always valid JSON. */
static void json_string(const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  putchar('"');
  while (*s) {
    unsigned code = 0;
    int length = utf8_sequence(s, &code);
    if (length == 0) {
      fputs("\\ufffd", stdout);
      s += 1;
    } else if (code == '"' || code == '\\') {
      printf("\\%c", (char)code);
      s += 1;
    } else if (is_control(code)) {
      printf("\\u%04x", code);
      s += length;
    } else {
      fwrite(s, 1, (size_t)length, stdout);
      s += length;
    }
  }
  putchar('"');
}

static void json_resources(const skv_kernel_resources *r) {
  printf("\"registers\": %u, \"shared_bytes\": %u, \"stack_bytes\": %u, "
         "\"spill_store_bytes\": %u, \"spill_load_bytes\": %u",
         r->registers, r->shared_bytes, r->stack_bytes, r->spill_store_bytes,
         r->spill_load_bytes);
}

static void json_spec(const skv_package *package, const skv_pkg_spec *spec) {
  printf("    {\"name\": ");
  json_string(spec->name);
  printf(", ");
  print_fields(spec, 1);
  printf(",\n     \"kernels\": [");
  for (uint32_t k = 0; k < spec->kernel_count; ++k) {
    const skv_kernel_desc *kernel = skv_package_kernel_at(package, spec->first_kernel + k);
    printf("%s\n      {\"name\": ", k ? "," : "");
    json_string(kernel->entry);
    printf(", \"role\": \"%s\", \"threads\": %u, \"dynamic_smem_bytes\": %u, "
           "\"tokens_per_step\": %u}",
           skv_kernel_role_name((skv_kernel_role)kernel->role), kernel->threads, kernel->dynamic_smem_bytes,
           kernel->tokens_per_step);
  }
  printf("],\n     \"images\": [");
  for (uint32_t i = 0; i < spec->image_count; ++i) {
    const skv_pkg_image *image = skv_package_image_at(package, spec->first_image + i);
    printf("%s\n      {\"kind\": \"%s\", \"sm\": %u, \"offset\": %llu, \"size\": %llu, "
           "\"kernels\": [",
           i ? "," : "", skv_image_kind_name((skv_image_kind)image->kind), image->sm,
           (unsigned long long)image->offset, (unsigned long long)image->size);
    for (uint32_t k = 0; k < image->resource_count; ++k) {
      printf("%s\n       {\"name\": ", k ? "," : "");
      json_string(skv_package_kernel_at(package, spec->first_kernel + k)->entry);
      printf(", ");
      json_resources(skv_package_resources_at(package, image->first_resource + k));
      printf("}");
    }
    printf("]}");
  }
  printf("]}");
}

static void print_json(const char *path, const skv_package *package) {
  const skv_pkg_header *h = skv_package_header(package);
  targets t;
  targets_collect(package, &t);
  printf("{\n  \"file\": ");
  json_string(path);
  printf(",\n  \"size\": %llu,\n  \"format_version\": %u,\n"
         "  \"abi_version\": %u,\n  \"compiler_version\": ",
         (unsigned long long)h->file_size, h->format_version, h->abi_version);
  json_string(h->compiler_version);
  char digest[65];
  digest_hex(package, digest);
  printf(",\n  \"sha256\": \"%s\"", digest);
  printf(",\n  \"targets\": [");
  const char *separator = "";
  for (int sm = 0; sm < 1000; ++sm) {
    if (!t.kinds[sm])
      continue;
    int cubin = t.kinds[sm] & (1u << SKV_IMAGE_CUBIN);
    int ptx = t.kinds[sm] & (1u << SKV_IMAGE_PTX);
    printf("%s{\"sm\": %d, \"kinds\": [%s%s%s]}", separator, sm,
           cubin ? "\"cubin\"" : "", cubin && ptx ? ", " : "",
           ptx ? "\"ptx\"" : "");
    separator = ", ";
  }
  printf("],\n  \"specs\": [\n");
  for (uint32_t i = 0; i < h->spec_count; ++i) {
    json_spec(package, skv_package_spec_at(package, i));
    printf("%s\n", i + 1 < h->spec_count ? "," : "");
  }
  printf("  ]\n}\n");
}

int main(int argc, char **argv) {
  static const struct option long_options[] = {
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int json = 0, c;
  opterr = 0; /* our messages, not getopt's */
  while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return 0;
    } else if (c == 'j') {
      json = 1;
    } else {
      fprintf(stderr, "splitkv-inspect: error: unknown option '%s'\n", argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  if (argc - optind != 1) {
    usage(stderr);
    return 2;
  }
  const char *path = argv[optind];
  skv_package *package = NULL;
  skv_status status = skv_package_open_file(path, &package);
  if (status) {
    fprintf(stderr, "splitkv-inspect: error: %s: %s\n",
            skv_status_code_name(skv_status_code_of(status)),
            skv_status_message(status));
    skv_status_free(status);
    return 1;
  }
  if (json)
    print_json(path, package);
  else
    print_text(path, package);
  skv_package_destroy(package);
  return 0;
}
