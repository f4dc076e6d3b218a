/* The last compile stage: PTX -> cubin with the CUDA toolkit's ptxas, and
 * the kernels' resources read from its -v report. The compiler needs the
 * toolkit; the runtime never does.
 *
 * ptxas as a whole-program compile, as the driver's JIT compiles PTX: a
 * cubin must be at least as good as the PTX it stands in for
 * (docs/design.md, "Assemble", on why not nvJitLink). */
/* mkdtemp is POSIX, hidden by -std=c11 otherwise. */
#define _POSIX_C_SOURCE 200809L

#include "splitkv/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Returns the line after the one starting at p, or NULL at the end. */
static const char *next_line(const char *p) {
  const char *end = strchr(p, '\n');
  return end ? end + 1 : NULL;
}

/* Where text occurs in the line starting at p, or NULL. */
static const char *line_find(const char *p, const char *text) {
  const char *end = strchr(p, '\n');
  const char *hit = strstr(p, text);
  return hit && (!end || hit < end) ? hit : NULL;
}

/* Does the line at p end with "Function properties for NAME"? Returns the
 * name's start, or NULL. */
static const char *properties_line(const char *p) {
  const char *hit = line_find(p, "Function properties for ");
  return hit ? hit + strlen("Function properties for ") : NULL;
}

/* The unsigned number that ends right before p (p > start). */
static unsigned number_before(const char *start, const char *p) {
  while (p > start && p[-1] >= '0' && p[-1] <= '9')
    --p;
  unsigned value = 0;
  sscanf(p, "%u", &value);
  return value;
}

skv_status skv_ptxas_info_find(const char *log, const char *entry,
                               skv_kernel_resources *out_resources) {
  size_t n = strlen(entry);
  const char *line = log;
  for (; line; line = next_line(line)) {
    const char *name = properties_line(line);
    if (name && strncmp(name, entry, n) == 0 &&
        (name[n] == '\n' || name[n] == '\r' || name[n] == '\0'))
      break;
  }
  if (!line)
    return SKV_ERROR(SKV_CODE_INTERNAL,
                     "ptxas's report has no properties for kernel %s", entry);
  skv_kernel_resources r;
  memset(&r, 0, sizeof(r));
  int have_stack = 0, have_registers = 0;
  /* The function's lines follow, up to the next function's:
   *       0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
   *   ptxas info    : Used 182 registers, used 1 barriers, 16640 bytes smem
   * (no smem part when the kernel declares none). */
  for (line = next_line(line); line; line = next_line(line)) {
    if (properties_line(line) || line_find(line, "Compiling entry function"))
      break;
    const char *hit;
    if ((hit = line_find(line, " bytes stack frame, "))) {
      const char *digits = line;
      while (*digits && (*digits < '0' || *digits > '9'))
        ++digits;
      have_stack = sscanf(digits,
                          "%u bytes stack frame, %u bytes spill stores, %u "
                          "bytes spill loads",
                          &r.stack_bytes, &r.spill_store_bytes,
                          &r.spill_load_bytes) == 3;
    } else if ((hit = line_find(line, "Used "))) {
      have_registers = sscanf(hit, "Used %u registers", &r.registers) == 1;
      const char *smem = line_find(line, " bytes smem");
      if (smem)
        r.shared_bytes = number_before(line, smem);
    }
  }
  if (!have_stack || !have_registers)
    return SKV_ERROR(SKV_CODE_INTERNAL,
                     "ptxas's report lacks the %s line of kernel %s",
                     have_stack ? "registers" : "stack frame", entry);
  *out_resources = r;
  return SKV_OK;
}

/* A scratch directory for ptxas's files, removed by scratch_remove. */
typedef struct scratch {
  char dir[512];
  char ptx[560];
  char cubin[560];
  char log[560];
} scratch;

static skv_status scratch_create(scratch *s) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !tmp[0])
    tmp = "/tmp";
  /* A longer TMPDIR would be cut, and mkdtemp would fail on what is left
   * with a message that does not say why: say it. The file names below
   * fit their buffers after any dir that fits its own. */
  int length = snprintf(s->dir, sizeof(s->dir), "%s/splitkv-ptxas-XXXXXX", tmp);
  if (length < 0 || (size_t)length >= sizeof(s->dir))
    return SKV_ERROR(SKV_CODE_IO_ERROR,
                     "TMPDIR is %zu bytes long; ptxas's scratch directory in it needs "
                     "it under %zu: give a shorter one",
                     strlen(tmp), sizeof(s->dir) - sizeof("/splitkv-ptxas-XXXXXX") + 1);
  if (!mkdtemp(s->dir))
    return SKV_ERROR(SKV_CODE_IO_ERROR, "cannot make a directory for ptxas "
                     "(%s): %s", s->dir, strerror(errno));
  snprintf(s->ptx, sizeof(s->ptx), "%s/kernels.ptx", s->dir);
  snprintf(s->cubin, sizeof(s->cubin), "%s/kernels.cubin", s->dir);
  snprintf(s->log, sizeof(s->log), "%s/ptxas.log", s->dir);
  return SKV_OK;
}

static void scratch_remove(const scratch *s) {
  remove(s->ptx);
  remove(s->cubin);
  remove(s->log);
  remove(s->dir);
}

static skv_status file_write(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot create: %s", path,
                     strerror(errno));
  size_t n = strlen(text);
  int failed = fwrite(text, 1, n, f) != n;
  failed |= fclose(f) != 0;
  if (failed)
    return SKV_ERROR(SKV_CODE_IO_ERROR, "%s: write failed", path);
  return SKV_OK;
}

/* Reads a whole file into *out_data (malloc'ed, NUL appended, not counted
 * in *out_size). */
static skv_status file_read(const char *path, uint8_t **out_data,
                            size_t *out_size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot open: %s", path,
                     strerror(errno));
  long end = -1;
  if (fseek(f, 0, SEEK_END) == 0)
    end = ftell(f);
  uint8_t *data = end >= 0 ? malloc((size_t)end + 1) : NULL;
  int ok = data && fseek(f, 0, SEEK_SET) == 0 &&
           fread(data, 1, (size_t)end, f) == (size_t)end;
  fclose(f);
  if (!ok) {
    free(data);
    return SKV_ERROR(SKV_CODE_IO_ERROR, "%s: cannot read", path);
  }
  data[end] = '\0';
  *out_data = data;
  *out_size = (size_t)end;
  return SKV_OK;
}

/* Runs ptxas on the scratch PTX, its output (the -v report, or the errors)
 * into the scratch log. Returns its exit status, or a status when it could
 * not run at all. */
static skv_status ptxas_run(const char *ptxas, int sm, const scratch *s,
                            int *out_exit) {
  char arch[32];
  /* Plain sm_XY: the 'a' variants would tie the cubin to one GPU model's
   * arch-specific features, which the kernels do not use. */
  snprintf(arch, sizeof(arch), "-arch=sm_%d", sm);
  char *argv[] = {(char *)ptxas, arch, "-O3", "-v", (char *)s->ptx, "-o",
                  (char *)s->cubin, NULL};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, s->log,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  int error = posix_spawn(&pid, ptxas, &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error)
    return SKV_ERROR(SKV_CODE_COMPILE_ERROR,
                     "cannot run %s: %s (is the CUDA toolkit there? see "
                     "--cuda)",
                     ptxas, strerror(error));
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0)
    if (errno != EINTR)
      return SKV_ERROR(SKV_CODE_INTERNAL, "waiting for ptxas: %s",
                       strerror(errno));
  *out_exit = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128;
  return SKV_OK;
}

skv_status skv_pipeline_assemble(skv_compiler *compiler, const char *ptx,
                                 const skv_kernel_plan *plan,
                                 skv_cubin *out_cubin) {
  char ptxas[600];
  snprintf(ptxas, sizeof(ptxas), "%s/bin/ptxas",
           skv_compiler_cuda_root(compiler));
  scratch s;
  SKV_RETURN_IF_ERROR_PLAIN(scratch_create(&s));
  skv_cubin cubin;
  memset(&cubin, 0, sizeof(cubin));
  uint8_t *log = NULL;
  size_t log_size = 0;
  int exit_code = 0;
  skv_status status = file_write(s.ptx, ptx);
  if (!status)
    status = ptxas_run(ptxas, plan->sm, &s, &exit_code);
  if (!status)
    status = file_read(s.log, &log, &log_size);
  if (!status && exit_code != 0)
    status = SKV_ERROR(SKV_CODE_COMPILE_ERROR,
                       "ptxas -arch=sm_%d failed (exit %d):\n%s", plan->sm,
                       exit_code, (const char *)log);
  if (!status)
    status = file_read(s.cubin, &cubin.data, &cubin.size);
  for (int k = 0; k < plan->kernel_count && !status; ++k)
    status = skv_ptxas_info_find((const char *)log, plan->kernels[k].entry,
                                 &cubin.resources[k]);
  scratch_remove(&s);
  free(log);
  if (status) {
    free(cubin.data);
    return status;
  }
  *out_cubin = cubin;
  return SKV_OK;
}
