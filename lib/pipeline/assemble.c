/* The last compile stage: PTX -> cubin in-process with nvJitLink (the CUDA
 * toolkit's library form of ptxas and nvlink), and the kernels' resources
 * read from its info log. The compiler links libnvJitLink; the runtime never
 * needs it. */
#include "splitkv/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvJitLink.h>

/* Returns the line after the one starting at p, or NULL at the end. */
static const char *next_line(const char *p) {
  const char *end = strchr(p, '\n');
  return end ? end + 1 : NULL;
}

/* Does the line at p start (after "ptxas" and spaces) with text? ptxas's
 * own lines start with "ptxas"; nvJitLink adds linker lines that start with
 * "info" and report shared memory with the system reserve included, which
 * is not what the kernel declares. */
static const char *ptxas_line(const char *p, const char *text) {
  if (strncmp(p, "ptxas", 5) != 0)
    return NULL;
  p += 5;
  while (*p == ' ' || *p == '\t')
    ++p;
  size_t n = strlen(text);
  return strncmp(p, text, n) == 0 ? p + n : NULL;
}

/* Is the rest of the line at p exactly name? */
static int line_is(const char *p, const char *name) {
  size_t n = strlen(name);
  return strncmp(p, name, n) == 0 &&
         (p[n] == '\n' || p[n] == '\r' || p[n] == '\0');
}

skv_status skv_ptxas_info_find(const char *log, const char *entry,
                               skv_pkg_kernel_resources *out_resources) {
  const char *line = log;
  while (line) {
    const char *name = ptxas_line(line, "info    : Function properties for ");
    if (name && line_is(name, entry))
      break;
    line = next_line(line);
  }
  if (!line)
    return SKV_ERROR(SKV_CODE_INTERNAL,
                     "the PTX compiler's info log has no properties for "
                     "kernel %s",
                     entry);
  skv_pkg_kernel_resources r;
  memset(&r, 0, sizeof(r));
  int have_stack = 0, have_registers = 0;
  /* The function's lines follow, up to the next function's. */
  for (line = next_line(line); line; line = next_line(line)) {
    if (ptxas_line(line, "info    : Function properties for ") ||
        ptxas_line(line, "info    : Compiling entry function"))
      break;
    const char *rest;
    if ((rest = ptxas_line(line, ".")))
      have_stack = sscanf(rest,
                          " %u bytes stack frame, %u bytes spill stores, %u "
                          "bytes spill loads",
                          &r.stack_bytes, &r.spill_store_bytes,
                          &r.spill_load_bytes) == 3;
    else if ((rest = ptxas_line(line, "info    : Used "))) {
      have_registers = sscanf(rest, "%u registers", &r.registers) == 1;
      /* "Used N registers, used B barriers, S bytes smem, ..." with the
       * smem part absent when the kernel declares none. */
      const char *end = strchr(rest, '\n');
      const char *smem = strstr(rest, " bytes smem");
      if (smem && (!end || smem < end)) {
        while (smem > rest && smem[-1] >= '0' && smem[-1] <= '9')
          --smem;
        sscanf(smem, "%u", &r.shared_bytes);
      }
    }
  }
  if (!have_stack || !have_registers)
    return SKV_ERROR(SKV_CODE_INTERNAL,
                     "the PTX compiler's info log lacks the %s line of "
                     "kernel %s",
                     have_stack ? "registers" : "stack frame", entry);
  *out_resources = r;
  return SKV_OK;
}

/* nvJitLink's error log (or its info log, which may say more), as a
 * COMPILE_ERROR naming what failed. */
static skv_status link_error(nvJitLinkHandle link, nvJitLinkResult result,
                             const char *call, int sm) {
  size_t size = 0;
  char *log = NULL;
  if (nvJitLinkGetErrorLogSize(link, &size) == NVJITLINK_SUCCESS)
    log = calloc(1, size + 1);
  if (log && nvJitLinkGetErrorLog(link, log) != NVJITLINK_SUCCESS)
    log[0] = '\0';
  skv_status status = SKV_ERROR(SKV_CODE_COMPILE_ERROR,
                                "compiling PTX for sm_%d: %s failed (nvJitLink "
                                "error %d)%s%s",
                                sm, call, (int)result,
                                log && log[0] ? ":\n" : "", log ? log : "");
  free(log);
  return status;
}

/* Copies the info log of a completed link into *out_log (malloc'ed). */
static skv_status info_log_get(nvJitLinkHandle link, int sm, char **out_log) {
  size_t size = 0;
  nvJitLinkResult result = nvJitLinkGetInfoLogSize(link, &size);
  if (result != NVJITLINK_SUCCESS)
    return link_error(link, result, "nvJitLinkGetInfoLogSize", sm);
  char *log = malloc(size + 1);
  if (!log)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "nvJitLink info log");
  log[0] = '\0';
  result = nvJitLinkGetInfoLog(link, log);
  if (result != NVJITLINK_SUCCESS) {
    free(log);
    return link_error(link, result, "nvJitLinkGetInfoLog", sm);
  }
  log[size] = '\0';
  *out_log = log;
  return SKV_OK;
}

/* Runs the link and copies out the cubin and the info log. */
static skv_status link_run(nvJitLinkHandle link, const char *ptx, int sm,
                           uint8_t **out_cubin, size_t *out_size,
                           char **out_log) {
  nvJitLinkResult result = nvJitLinkAddData(link, NVJITLINK_INPUT_PTX, ptx,
                                            strlen(ptx) + 1, NULL);
  if (result != NVJITLINK_SUCCESS)
    return link_error(link, result, "nvJitLinkAddData", sm);
  result = nvJitLinkComplete(link);
  if (result != NVJITLINK_SUCCESS)
    return link_error(link, result, "nvJitLinkComplete", sm);
  size_t size = 0;
  result = nvJitLinkGetLinkedCubinSize(link, &size);
  if (result != NVJITLINK_SUCCESS)
    return link_error(link, result, "nvJitLinkGetLinkedCubinSize", sm);
  uint8_t *cubin = malloc(size ? size : 1);
  if (!cubin)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "%zu-byte cubin", size);
  result = nvJitLinkGetLinkedCubin(link, cubin);
  if (result != NVJITLINK_SUCCESS) {
    free(cubin);
    return link_error(link, result, "nvJitLinkGetLinkedCubin", sm);
  }
  skv_status status = info_log_get(link, sm, out_log);
  if (status) {
    free(cubin);
    return status;
  }
  *out_cubin = cubin;
  *out_size = size;
  return SKV_OK;
}

skv_status skv_pipeline_assemble(const char *ptx, const skv_kernel_plan *plan,
                                 skv_cubin *out_cubin) {
  char arch[32];
  /* Plain sm_XY: the 'a' variants would tie the cubin to one GPU model's
   * arch-specific features, which the kernels do not use. */
  snprintf(arch, sizeof(arch), "-arch=sm_%d", plan->sm);
  const char *options[] = {arch, "-O3", "-verbose"};
  nvJitLinkHandle link = NULL;
  nvJitLinkResult result =
      nvJitLinkCreate(&link, sizeof(options) / sizeof(options[0]), options);
  if (result != NVJITLINK_SUCCESS)
    return SKV_ERROR(SKV_CODE_COMPILE_ERROR,
                     "nvJitLinkCreate(%s) failed (nvJitLink error %d)", arch,
                     (int)result);
  skv_cubin cubin;
  memset(&cubin, 0, sizeof(cubin));
  char *log = NULL;
  skv_status status =
      link_run(link, ptx, plan->sm, &cubin.data, &cubin.size, &log);
  nvJitLinkDestroy(&link);
  if (!status)
    status = skv_ptxas_info_find(log, plan->split_entry, &cubin.split);
  if (!status)
    status = skv_ptxas_info_find(log, plan->combine_entry, &cubin.combine);
  free(log);
  if (status) {
    free(cubin.data);
    return status;
  }
  *out_cubin = cubin;
  return SKV_OK;
}
