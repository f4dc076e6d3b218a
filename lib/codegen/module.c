/* The module around the kernels: the plan derived from a spec, the gpu.func
 * shell, and the module holding the kernel. */
#include <stdio.h>
#include <string.h>

#include <mlir-c/BuiltinAttributes.h>
#include <mlir-c/BuiltinTypes.h>

#include "kernels.h"
#include "splitkv/kernel_abi.h"

/* The mma's M dimension: one m16 tile holds the whole GQA group. */
#define SKV_MAX_GROUP 16
/* What the combine kernel may use per thread. */
#define SKV_COMBINE_MAX_REGS 64
/* Tokens per warp step: 16 or 32 (P·V one or two k16 mmas, two or four n8
 * tiles of S), 32 where that is at most 2048 elements of K (of the warp's
 * dims). */
#define SKV_MAX_WARP_TOKENS 32
#define SKV_STEP_ELEMENTS 2048

skv_status skv_codegen_plan(const skv_spec *spec, int sm,
                            skv_kernel_plan *out_plan) {
  skv_kernel_plan plan;
  memset(&plan, 0, sizeof(plan));
  plan.sm = sm;
  plan.group = spec->num_q_heads / spec->num_kv_heads;
  plan.upper_rows = plan.group > 8;
  if (plan.group > SKV_MAX_GROUP)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%s: a GQA group of %d q heads per kv head is more than "
                     "the %d one tensor-core tile holds",
                     spec->name, plan.group, SKV_MAX_GROUP);
  if (spec->head_dim % 32 != 0)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%s: head_dim %d is not a multiple of 32", spec->name,
                     spec->head_dim);
  /* A warp step reads up to SKV_STEP_ELEMENTS of K and as many of V: 16
   * tokens at head_dim 128 (P·V one k16 mma), 32 at 64 (two k16 mmas: as
   * many bytes in flight per warp as at 128). At 256 two warps share each
   * token stream, each holding half of the dims of Q, K, V and the
   * accumulators: a warp then holds what one of head_dim 128 does, 16
   * tokens of two steps of K and V beside them. */
  plan.dim_split = spec->head_dim > 128 ? 2 : 1;
  plan.warp_tokens = SKV_MAX_WARP_TOKENS;
  while (plan.warp_tokens > 16 &&
         plan.warp_tokens * spec->head_dim / plan.dim_split > SKV_STEP_ELEMENTS)
    plan.warp_tokens /= 2;
  /* Warps per CTA: SKV_MAX_WARPS where two CTAs share an SM, and a wide
   * launch of twice the warps and streams where one CTA has the SM; the
   * runtime picks per call (a chunk per SM with a single kv head at batch
   * 1, a (batch, kv head) per SM at batch 16: kernel_abi.h). The streams'
   * partial results meet in shared memory: the wide launch exists only if
   * twice the streams fit the static limit. */
  int per_stream = plan.group * (2 + spec->head_dim) * (int)sizeof(float);
  /* With two warps a stream, their slots of S. */
  if (plan.dim_split > 1) {
    plan.pair_scores = plan.warp_tokens / 8 * (plan.upper_rows ? 4 : 2);
    per_stream += skv_pair_stream_floats(&plan) * (int)sizeof(float);
  }
  int fit = SKV_STATIC_SMEM_LIMIT / per_stream;
  plan.streams = SKV_MAX_WARPS / plan.dim_split;
  if (plan.streams > fit)
    plan.streams = fit;
  plan.warps = plan.streams * plan.dim_split;
  plan.split_threads = 32 * plan.warps;
  if (2 * plan.streams <= fit && plan.warps == SKV_MAX_WARPS)
    plan.split_threads_wide = 2 * plan.split_threads;
  /* griddepcontrol is PTX for sm_90 and newer. */
  plan.grid_dependency = sm >= SKV_GRID_DEPENDENCY_SM;
  /* The combine kernel: up to 2 warps per CTA (small enough, at 64
   * registers, to become resident beside two split CTAs and wait there for
   * them: 4 warps gave 19.3 -> 16.7 us for llama3_8b at 8192 tokens over 8
   * warps, 2 warps another 0.3 us at 1024), each a slice of 8 output dims
   * at 32 lanes; the runtime picks the lanes per call (kernel_abi.h). */
  int slices = spec->head_dim / 8, warps_per_cta = 2;
  while (slices % warps_per_cta != 0)
    warps_per_cta /= 2;
  plan.combine_threads = 32 * warps_per_cta;
  /* The combine CTA is resident beside the split CTAs (and waits there for
   * their partials) only if their warps fit the registers of an SM's four
   * quadrants: each (16384 registers) holds a quarter of the split warps
   * and one combine warp. So the combine kernel is capped at what it needs
   * and the split kernel at the rest: 224 with two 4-warp CTAs (or one
   * 8-warp CTA, the wide launch) per SM. Uncapped, a head_dim 256 split
   * kernel takes 255 and its combine CTAs wait for split CTAs to leave;
   * capped at 240, head_dim 128's took 231 (215 uncapped), one combine
   * warp no longer fit, and llama3_8b at 8192 tokens went from 16.6 to
   * 19.2 us on an H100. Without programmatic dependent launch (before
   * sm_90) the combine kernel starts after the split kernel ends, and
   * neither is capped. */
  if (plan.grid_dependency) {
    plan.combine_max_regs = SKV_COMBINE_MAX_REGS;
    /* Two narrow CTAs or one wide one: the same warps per SM. */
    plan.split_max_regs = skv_split_register_cap(2 * plan.warps, plan.combine_max_regs);
  }
  snprintf(plan.split_entry, sizeof(plan.split_entry), "%s_split", spec->name);
  snprintf(plan.split_wide_entry, sizeof(plan.split_wide_entry), "%s" SKV_WIDE_SUFFIX,
           plan.split_entry);
  snprintf(plan.combine_entry, sizeof(plan.combine_entry), "%s_combine",
           spec->name);
  *out_plan = plan;
  return SKV_OK;
}

void skv_codegen_manifest(const skv_spec *spec, const skv_kernel_plan *plan,
                          skv_pkg_spec *out_record) {
  skv_pkg_spec r;
  memset(&r, 0, sizeof(r));
  snprintf(r.name, sizeof(r.name), "%s", spec->name);
  r.head_dim = (uint32_t)spec->head_dim;
  r.num_q_heads = (uint32_t)spec->num_q_heads;
  r.num_kv_heads = (uint32_t)spec->num_kv_heads;
  r.dtype = (uint32_t)spec->dtype;
  r.splits = (uint32_t)spec->splits;
  r.softmax_scale = spec->softmax_scale;
  memcpy(r.split_entry, plan->split_entry, sizeof(r.split_entry));
  memcpy(r.combine_entry, plan->combine_entry, sizeof(r.combine_entry));
  r.split_threads = (uint32_t)plan->split_threads;
  r.split_threads_wide = (uint32_t)plan->split_threads_wide;
  r.split_smem_bytes = 0; /* all of it is static */
  r.combine_threads = (uint32_t)plan->combine_threads;
  r.tokens_per_step = (uint32_t)(plan->streams * plan->warp_tokens);
  *out_record = r;
}

MlirType skv_dtype_type(skv_builder *b, skv_dtype dtype) {
  return dtype == SKV_DTYPE_BF16 ? mlirBF16TypeGet(b->ctx)
                                 : mlirF16TypeGet(b->ctx);
}

static MlirAttribute arg_attrs(skv_builder *b, int readonly) {
  MlirNamedAttribute attrs[2] = {
      skv_named(b, "llvm.noalias", mlirUnitAttrGet(b->ctx)),
      skv_named(b, "llvm.readonly", mlirUnitAttrGet(b->ctx)),
  };
  return mlirDictionaryAttrGet(b->ctx, readonly ? 2 : 1, attrs);
}

void skv_kernel_begin(skv_builder *b, MlirBlock module_body, const char *name,
                      int n_args, const skv_kernel_arg *args, int n_shared,
                      const MlirType *shared, int block_size, int max_regs,
                      MlirValue *out_values) {
  enum { MAX_VALUES = 32 };
  MlirType types[MAX_VALUES];
  MlirLocation locs[MAX_VALUES];
  MlirAttribute per_arg[MAX_VALUES];
  for (int i = 0; i < n_args; ++i) {
    types[i] = args[i].type;
    locs[i] = b->loc;
    int is_buffer = mlirTypeIsAMemRef(args[i].type);
    per_arg[i] = is_buffer ? arg_attrs(b, args[i].readonly)
                           : mlirDictionaryAttrGet(b->ctx, 0, NULL);
  }
  for (int i = 0; i < n_shared; ++i) {
    types[n_args + i] = shared[i];
    locs[n_args + i] = b->loc;
  }
  MlirType fn_type = mlirFunctionTypeGet(b->ctx, n_args, types, 0, NULL);
  int32_t block[3] = {block_size, 1, 1};
  MlirNamedAttribute attrs[7] = {
      skv_named(b, "sym_name", mlirStringAttrGet(b->ctx, mlirStringRefCreateFromCString(name))),
      skv_named(b, "function_type", mlirTypeAttrGet(fn_type)),
      skv_named(b, "gpu.kernel", mlirUnitAttrGet(b->ctx)),
      skv_named(b, "workgroup_attributions",
                mlirIntegerAttrGet(skv_type_i64(b), n_shared)),
      skv_named(b, "arg_attrs", mlirArrayAttrGet(b->ctx, n_args, per_arg)),
      skv_named(b, "known_block_size", mlirDenseI32ArrayGet(b->ctx, 3, block)),
  };
  MlirBlock entry = mlirBlockCreate(n_args + n_shared, types, locs);
  MlirRegion body = mlirRegionCreate();
  mlirRegionAppendOwnedBlock(body, entry);

  int n_attrs = 6; /* the ones above; the register cap, if any, is the 7th */
  if (max_regs > 0)
    attrs[n_attrs++] = skv_named(b, "nvvm.maxnreg", mlirIntegerAttrGet(skv_type_i32(b), max_regs));
  MlirOperationState state = mlirOperationStateGet(
      mlirStringRefCreateFromCString("gpu.func"), b->loc);
  mlirOperationStateAddAttributes(&state, n_attrs, attrs);
  mlirOperationStateAddOwnedRegions(&state, 1, &body);
  mlirBlockAppendOwnedOperation(module_body, mlirOperationCreate(&state));

  b->block = entry;
  for (int i = 0; i < n_args + n_shared; ++i)
    out_values[i] = mlirBlockGetArgument(entry, i);
}

void skv_kernel_end(skv_builder *b) {
  skv_op(b, "gpu.return", 0, NULL, 0, NULL, 0, NULL);
}

skv_status skv_codegen_build(MlirContext ctx, const skv_spec *spec,
                             const skv_kernel_plan *plan,
                             MlirModule *out_module) {
  MlirLocation loc = mlirLocationFileLineColGet(
      ctx, mlirStringRefCreateFromCString(spec->file), (unsigned)spec->line, 1);
  MlirModule module = mlirModuleCreateEmpty(loc);
  MlirOperation module_op = mlirModuleGetOperation(module);
  mlirOperationSetAttributeByName(module_op,
                                  mlirStringRefCreateFromCString("gpu.container_module"),
                                  mlirUnitAttrGet(ctx));

  skv_builder b = {ctx, loc, mlirModuleGetBody(module)};
  MlirBlock kernels_body = mlirBlockCreate(0, NULL, NULL);
  MlirRegion region = mlirRegionCreate();
  mlirRegionAppendOwnedBlock(region, kernels_body);
  MlirNamedAttribute name = skv_named(
      &b, "sym_name", mlirStringAttrGet(ctx, mlirStringRefCreateFromCString(spec->name)));
  MlirOperationState state = mlirOperationStateGet(
      mlirStringRefCreateFromCString("gpu.module"), loc);
  mlirOperationStateAddAttributes(&state, 1, &name);
  mlirOperationStateAddOwnedRegions(&state, 1, &region);
  mlirBlockAppendOwnedOperation(b.block, mlirOperationCreate(&state));

  skv_codegen_split_kernel(&b, kernels_body, spec, plan, 0);
  if (plan->split_threads_wide)
    skv_codegen_split_kernel(&b, kernels_body, spec, plan, 1);
  skv_codegen_combine_kernel(&b, kernels_body, spec, plan);

  if (!mlirOperationVerify(module_op)) {
    mlirModuleDestroy(module);
    return SKV_ERROR(SKV_CODE_INTERNAL,
                     "%s: the generated module does not verify", spec->name);
  }
  *out_module = module;
  return SKV_OK;
}
