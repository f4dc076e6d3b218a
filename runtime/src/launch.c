/* Launching: a decode call's arguments checked and planned (plan.c), then
 * the split kernel of the chosen launch and, with several chunks, the
 * combine kernel, with kernel_abi.h's argument lists. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention_internal.h"
#include "splitkv/cuda_driver.h"

#define INVALID(...) SKV_ERROR(SKV_CODE_INVALID_ARGUMENT, __VA_ARGS__)

/* Decode launches in the attention's context: a thread with none gets it
 * made current (as create does); a thread with another one is an error,
 * since the kernels belong to one context. */
static skv_status context_enter(const skv_attention *attention) {
  CUcontext current = NULL;
  SKV_CU_RETURN_IF_ERROR(cuCtxGetCurrent, &current);
  if (!current)
    SKV_CU_RETURN_IF_ERROR(cuCtxSetCurrent, attention->context);
  else if (current != attention->context)
    return INVALID("the CUDA context current on this thread is not the one "
                   "spec %s was loaded in",
                   attention->spec->name);
  return SKV_OK;
}

static CUdeviceptr device_ptr(const void *p) {
  return (CUdeviceptr)(uintptr_t)p;
}

/* One kernel launch. kernel_abi.h: sm_90+ kernels wait on griddepcontrol,
 * so they are launched as programmatic dependents of the kernel before
 * them: their launch overlaps its tail. */
static skv_status kernel_launch(const skv_attention *attention, CUfunction function,
                                unsigned grid_x, unsigned grid_y, unsigned grid_z,
                                unsigned threads, unsigned smem, CUstream stream,
                                void **params) {
  CUlaunchAttribute dependent;
  memset(&dependent, 0, sizeof(dependent));
  dependent.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
  dependent.value.programmaticStreamSerializationAllowed = 1;
  CUlaunchConfig config = {
      .gridDimX = grid_x,
      .gridDimY = grid_y,
      .gridDimZ = grid_z,
      .blockDimX = threads,
      .blockDimY = 1,
      .blockDimZ = 1,
      .sharedMemBytes = smem,
      .hStream = stream,
      .attrs = &dependent,
      .numAttrs = attention->image.sm >= SKV_GRID_DEPENDENCY_SM ? 1u : 0u,
  };
  SKV_CU_RETURN_IF_ERROR(cuLaunchKernelEx, &config, function, params, NULL);
  return SKV_OK;
}

/* The split kernel of launch `launch`: grid (splits, kv heads, batch), or
 * (splits, kv heads, 1) in the balanced partition (kernel_abi.h). A
 * paged spec's kernels take paged's arguments after args'; a contiguous
 * spec's (paged NULL) take none, and the driver reads no further than a
 * kernel's own parameters. */
static skv_status launch_split(const skv_attention *attention, int launch,
                               skv_split_kernel_args *args, skv_split_paged_kernel_args *paged,
                               CUstream stream) {
  skv_split_paged_kernel_args none = {0};
  if (!paged)
    paged = &none;
  void *params[] = {SKV_SPLIT_KERNEL_ARGS(SKV_ABI_ADDRESS_OF)
                        SKV_SPLIT_PAGED_ARGS(SKV_ABI_PAGED_ADDRESS_OF)};
  const skv_kernel_desc *kernel = attention->split_kernels[launch];
  return kernel_launch(attention, attention->split_functions[launch],
                       (unsigned)args->num_splits,
                       (unsigned)skv_head_ctas(attention->spec, args->q_len),
                       kernel->role == SKV_KERNEL_BALANCED ? 1u : (unsigned)args->batch,
                       kernel->threads, kernel->dynamic_smem_bytes, stream,
                       params);
}

/* The combine kernel: grid (q heads x CTAs per row, batch x q_len). */
static skv_status launch_combine(const skv_attention *attention,
                                 skv_combine_kernel_args *args, int batch, CUstream stream) {
  void *params[] = {SKV_COMBINE_KERNEL_ARGS(SKV_ABI_ADDRESS_OF)};
  const skv_kernel_desc *kernel = attention->combine_kernel;
  uint32_t row_ctas = skv_pkg_combine_row_ctas((uint32_t)attention->spec->head_dim,
                                               kernel->threads, (uint32_t)args->lanes);
  return kernel_launch(attention, attention->combine_function,
                       (unsigned)attention->spec->num_q_heads * row_ctas,
                       (unsigned)batch * (unsigned)args->q_len, 1,
                       kernel->threads, kernel->dynamic_smem_bytes, stream, params);
}

/* A planned call: the split kernel with kernel_abi.h's arguments (paged:
 * a paged spec's too, else NULL), then, balanced or with several chunks,
 * the combine kernel merging them into out and lse. */
static skv_status launch_call(const skv_attention *attention, const skv_decode_plan *plan,
                              skv_split_paged_kernel_args *paged, CUstream stream) {
  const skv_decode_call *c = &plan->call;
  uint8_t *workspace = c->workspace;
  skv_split_kernel_args split = {
      .q = device_ptr(c->q),
      .k = device_ptr(c->k),
      .v = device_ptr(c->v),
      .seqlens = device_ptr(c->seqlens),
      .out = device_ptr(c->out),
      .lse = c->lse ? device_ptr(c->lse) : device_ptr(workspace + plan->lse_offset),
      .part_out = workspace ? device_ptr(workspace + plan->part_out_offset) : 0,
      .part_lse = workspace ? device_ptr(workspace + plan->part_lse_offset) : 0,
      .k_sb = c->strides[0],
      .k_st = c->strides[1],
      .k_sh = c->strides[2],
      .v_sb = c->strides[3],
      .v_st = c->strides[4],
      .v_sh = c->strides[5],
      .num_splits = plan->num_splits,
      .q_len = plan->q_len,
      .batch = c->batch,
      .chunk_table = plan->balanced ? device_ptr(workspace + plan->chunk_table_offset) : 0,
  };
  SKV_RETURN_IF_ERROR_PLAIN(
      launch_split(attention, plan->launch, &split, paged, stream));
  if (plan->num_splits == 1 && !plan->balanced)
    return SKV_OK;
  skv_combine_kernel_args combine = {
      .part_out = split.part_out,
      .part_lse = split.part_lse,
      .out = split.out,
      .lse = split.lse,
      .num_splits = plan->num_splits,
      .balanced = plan->balanced,
      .seqlens = split.seqlens,
      .chunk_table = split.chunk_table,
      .lanes = plan->combine_lanes,
      .late = plan->combine_late,
      .q_len = plan->q_len,
  };
  return launch_combine(attention, &combine, c->batch, stream);
}

skv_status skv_attention_decode(const skv_attention *attention,
                                const skv_decode_args *args, CUstream stream) {
  if (!attention)
    return INVALID("attention is NULL");
  skv_decode_plan plan;
  SKV_RETURN_IF_ERROR_PLAIN(
      skv_decode_plan_make(attention->spec, &attention->launches, args, &plan));
  SKV_RETURN_IF_ERROR_PLAIN(context_enter(attention));
  return launch_call(attention, &plan, NULL, stream);
}

/* The page check (runtime.h): the stream's work done, seqlens and each
 * sequence's pages copied to the host and checked one sequence at a time
 * (the indices a CSR table has past the rows are unknown here). */
static skv_status check_pages(const skv_attention *attention,
                              const skv_paged_decode_args *args, CUstream stream) {
  CUstreamCaptureStatus capturing = CU_STREAM_CAPTURE_STATUS_NONE;
  SKV_CU_RETURN_IF_ERROR(cuStreamIsCapturing, stream, &capturing);
  if (capturing != CU_STREAM_CAPTURE_STATUS_NONE)
    return INVALID("SKV_CHECK_PAGES: the page check copies the page table to the host and "
                   "cannot run under stream capture; unset it to capture");
  if (args->num_pages <= 0)
    return INVALID("SKV_CHECK_PAGES: the page check needs num_pages, the pools' page count "
                   "(it is %d)",
                   args->num_pages);
  const int page_size = attention->spec->page_size;
  const int batch = args->batch;
  int32_t *lens = malloc(sizeof(int32_t) * (2 * (size_t)batch + 1));
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)(skv_pages_of(args->max_seqlen, page_size) + 1));
  skv_status status = lens && ids ? SKV_OK : SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "page check");
  int32_t *indptr = lens + batch;
  if (!status)
    status = SKV_CU_CALL(cuStreamSynchronize, stream);
  if (!status)
    status = SKV_CU_CALL(cuMemcpyDtoH, lens, device_ptr(args->seqlens),
                         sizeof(int32_t) * (size_t)batch);
  if (!status && !args->block_table)
    status = SKV_CU_CALL(cuMemcpyDtoH, indptr, device_ptr(args->page_indptr),
                         sizeof(int32_t) * ((size_t)batch + 1));
  for (int b = 0; b < batch && !status; ++b) {
    int64_t row = args->block_table ? (int64_t)b * args->block_table_stride : indptr[b];
    int64_t csr_pages = args->block_table ? -1 : (int64_t)indptr[b + 1] - indptr[b];
    if (!args->block_table && indptr[b] < 0) {
      status = INVALID("page check: page_indptr[%d] is %d, negative", b, indptr[b]);
      break;
    }
    int len = lens[b];
    int64_t need = len >= 0 && len <= args->max_seqlen ? skv_pages_of(len, page_size) : 0;
    if (need > 0 && (csr_pages < 0 || csr_pages >= need))
      status = SKV_CU_CALL(
          cuMemcpyDtoH, ids,
          device_ptr(args->block_table ? args->block_table : args->page_indices) +
              (CUdeviceptr)row * sizeof(int32_t),
          sizeof(int32_t) * (size_t)need);
    if (!status)
      status = skv_page_check_sequence(b, len, args->max_seqlen, page_size, csr_pages, ids,
                                       args->block_table ? "block_table" : "page_indices", row,
                                       args->num_pages);
  }
  free(lens);
  free(ids);
  return status;
}

skv_status skv_attention_decode_paged(const skv_attention *attention,
                                      const skv_paged_decode_args *args, CUstream stream) {
  if (!attention)
    return INVALID("attention is NULL");
  skv_decode_plan plan;
  SKV_RETURN_IF_ERROR_PLAIN(
      skv_paged_decode_plan_make(attention->spec, &attention->launches, args, &plan));
  SKV_RETURN_IF_ERROR_PLAIN(context_enter(attention));
  if (attention->check_pages)
    SKV_RETURN_IF_ERROR_PLAIN(check_pages(attention, args, stream));

  /* One kernel for both table forms: a block table's rows start at b times
   * its stride, CSR's at page_indptr[b] (page_row_stride 0). */
  int block = args->block_table != NULL;
  skv_split_paged_kernel_args paged = {
      .pages = device_ptr(block ? args->block_table : args->page_indices),
      .page_rows = block ? 0 : device_ptr(args->page_indptr),
      .page_row_stride = block ? args->block_table_stride : 0,
  };
  return launch_call(attention, &plan, &paged, stream);
}
