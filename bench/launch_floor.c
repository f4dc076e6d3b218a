/* What a decode call's kernel boundaries cost on their own (docs/perf-log.md §31):
 * chains of near-empty kernels launched as our calls are (programmatic
 * dependent launch, griddepcontrol.launch_dependents then wait, captured in
 * a CUDA graph and replayed), with the grids of the split kernel (264 CTAs
 * of 128 threads, two per SM of an H100) and of the combine kernel (64
 * CTAs of 64 threads). After its wait, thread 0 of each CTA loads one word
 * (an L2 hit) and stores it plus one, so that each kernel has one
 * dependent memory round trip, as ours have several.
 *
 * Build and run on the GPU machine:
 *   cc -O2 -std=c11 bench/launch_floor.c -I/usr/local/cuda/include -lcuda -o /tmp/launch_floor
 *   /tmp/launch_floor
 * Prints µs per call for one kernel per call and for two. */
#include <stdio.h>
#include <stdlib.h>

#include <cuda.h>

static const char *PTX =
    ".version 8.0\n.target sm_90\n.address_size 64\n"
    ".visible .entry touch(.param .u64 buf)\n{\n"
    " .reg .b64 %a;\n .reg .b32 %r<4>;\n .reg .pred %p;\n"
    " griddepcontrol.launch_dependents;\n griddepcontrol.wait;\n"
    " mov.u32 %r1, %tid.x;\n setp.ne.u32 %p, %r1, 0;\n @%p bra DONE;\n"
    " ld.param.u64 %a, [buf];\n mov.u32 %r2, %ctaid.x;\n"
    " mad.wide.u32 %a, %r2, 128, %a;\n"
    " ld.global.cg.u32 %r3, [%a];\n add.u32 %r3, %r3, 1;\n st.global.u32 [%a], %r3;\n"
    "DONE:\n ret;\n}\n";

#define CHECK(call)                                                              \
  do {                                                                           \
    CUresult r_ = (call);                                                        \
    if (r_ != CUDA_SUCCESS) {                                                    \
      const char *s_ = "?";                                                      \
      cuGetErrorName(r_, &s_);                                                   \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, s_);        \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

enum { CALLS = 128, REPLAYS = 21, SPLIT_CTAS = 264, COMBINE_CTAS = 64 };
#define REGION_BYTES ((size_t)64 << 10) /* per call */

static CUfunction fn;

static void launch(CUstream s, unsigned ctas, unsigned threads, CUdeviceptr buf) {
  CUlaunchAttribute pdl = {.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION};
  pdl.value.programmaticStreamSerializationAllowed = 1;
  CUlaunchConfig c = {.gridDimX = ctas, .gridDimY = 1, .gridDimZ = 1, .blockDimX = threads,
                      .blockDimY = 1, .blockDimZ = 1, .hStream = s, .attrs = &pdl,
                      .numAttrs = 1};
  void *params[] = {&buf};
  CHECK(cuLaunchKernelEx(&c, fn, params, NULL));
}

static int by_value(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Median µs per call of CALLS calls of `kernels` kernels each. */
static float time_chain(CUstream s, CUdeviceptr buf, int kernels) {
  CUgraph graph;
  CUgraphExec exec;
  CHECK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  for (int call = 0; call < CALLS; ++call) {
    CUdeviceptr at = buf + (CUdeviceptr)call * REGION_BYTES;
    launch(s, SPLIT_CTAS, 128, at);
    if (kernels == 2)
      launch(s, COMBINE_CTAS, 64, at + REGION_BYTES / 2);
  }
  CHECK(cuStreamEndCapture(s, &graph));
  CHECK(cuGraphInstantiate(&exec, graph, 0));
  CUevent start, stop;
  CHECK(cuEventCreate(&start, 0));
  CHECK(cuEventCreate(&stop, 0));
  float us[REPLAYS];
  for (int r = 0; r < REPLAYS; ++r) {
    CHECK(cuEventRecord(start, s));
    CHECK(cuGraphLaunch(exec, s));
    CHECK(cuEventRecord(stop, s));
    CHECK(cuEventSynchronize(stop));
    float ms;
    CHECK(cuEventElapsedTime(&ms, start, stop));
    us[r] = ms * 1000.0f / CALLS;
  }
  qsort(us + 1, REPLAYS - 1, sizeof us[0], by_value);
  CHECK(cuGraphExecDestroy(exec));
  CHECK(cuGraphDestroy(graph));
  return us[1 + (REPLAYS - 1) / 2];
}

int main(void) {
  CUdevice dev;
  CUcontext ctx;
  CUmodule mod;
  CUstream s;
  CHECK(cuInit(0));
  CHECK(cuDeviceGet(&dev, 0));
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));
  CHECK(cuModuleLoadData(&mod, PTX));
  CHECK(cuModuleGetFunction(&fn, mod, "touch"));
  CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUdeviceptr buf;
  size_t bytes = (size_t)CALLS * REGION_BYTES;
  CHECK(cuMemAlloc(&buf, bytes));
  CHECK(cuMemsetD8(buf, 1, bytes));
  char name[128];
  CHECK(cuDeviceGetName(name, sizeof name, dev));
  printf("%s, %d calls per graph, median of %d replays\n", name, CALLS, REPLAYS - 1);
  printf("| kernels per call | us per call |\n|---|---|\n");
  for (int kernels = 1; kernels <= 2; ++kernels)
    printf("| %d | %.2f |\n", kernels, time_chain(s, buf, kernels));
  CHECK(cuMemFree(buf));
  return 0;
}
