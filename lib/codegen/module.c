/* The module around the kernels: the plan derived from a spec, the gpu.func
 * shells, and the module holding both kernels. */
#include <stdio.h>
#include <string.h>

#include <mlir-c/BuiltinAttributes.h>
#include <mlir-c/BuiltinTypes.h>

#include "kernels.h"

#define SKV_SPLIT_THREADS 128
#define SKV_STATIC_SMEM_LIMIT (48 * 1024)
/* One scf.for carries (max, sum, accumulator) per q head of the group. */
#define SKV_MAX_GROUP (SKV_MAX_CARRIED / 3)

static int next_pow2(int x) {
  int p = 1;
  while (p < x)
    p *= 2;
  return p;
}

skv_status skv_codegen_plan(const skv_spec *spec, int sm,
                            skv_kernel_plan *out_plan) {
  skv_kernel_plan plan;
  memset(&plan, 0, sizeof(plan));
  plan.sm = sm;
  plan.group = spec->num_q_heads / spec->num_kv_heads;
  plan.active_lanes = spec->head_dim / 8;
  plan.lanes_per_token = next_pow2(plan.active_lanes);
  plan.split_threads = SKV_SPLIT_THREADS;
  plan.token_groups = plan.split_threads / plan.lanes_per_token;
  /* Four rows of K and four of V in flight per lane keeps enough 16-byte
   * loads outstanding to cover HBM latency at 128 threads per CTA. */
  plan.tokens_per_group = 4;
  plan.combine_threads = spec->head_dim;
  /* Per lane group: max and sum per head, then the accumulators. */
  plan.split_smem_bytes =
      plan.token_groups * plan.group * (2 + spec->head_dim) * (int)sizeof(float);
  if (plan.group > SKV_MAX_GROUP)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%s: a GQA group of %d q heads per kv head is more than "
                     "the %d this generator supports",
                     spec->name, plan.group, SKV_MAX_GROUP);
  if (plan.split_smem_bytes > SKV_STATIC_SMEM_LIMIT)
    return SKV_ERROR(SKV_CODE_UNSUPPORTED,
                     "%s: head_dim %d with %d q heads per kv head needs %d "
                     "bytes of shared memory to merge lane groups, over the "
                     "%d this generator supports",
                     spec->name, spec->head_dim, plan.group,
                     plan.split_smem_bytes, SKV_STATIC_SMEM_LIMIT);
  snprintf(plan.split_entry, sizeof(plan.split_entry), "%s_split", spec->name);
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
  r.split_smem_bytes = 0; /* all of it is static */
  r.combine_threads = (uint32_t)plan->combine_threads;
  r.combine_smem_bytes = 0;
  r.tokens_per_step = (uint32_t)(plan->token_groups * plan->tokens_per_group);
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
                      const MlirType *shared, int block_size,
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
  MlirNamedAttribute attrs[] = {
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

  MlirOperationState state = mlirOperationStateGet(
      mlirStringRefCreateFromCString("gpu.func"), b->loc);
  mlirOperationStateAddAttributes(&state, (intptr_t)(sizeof(attrs) / sizeof(attrs[0])), attrs);
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

  skv_codegen_split_kernel(&b, kernels_body, spec, plan);
  skv_codegen_combine_kernel(&b, kernels_body, spec, plan);

  if (!mlirOperationVerify(module_op)) {
    mlirModuleDestroy(module);
    return SKV_ERROR(SKV_CODE_INTERNAL,
                     "%s: the generated module does not verify", spec->name);
  }
  *out_module = module;
  return SKV_OK;
}
