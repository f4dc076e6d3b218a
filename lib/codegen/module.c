/* The module around the kernels: the gpu.func shell, and the module holding
 * the plan's kernel set. */
#include <stdio.h>
#include <string.h>

#include <mlir-c/BuiltinAttributes.h>
#include <mlir-c/BuiltinTypes.h>

#include "kernels.h"
#include "splitkv/kernel_abi.h"

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

/* The MLIR type of an ABI argument type. */
static MlirType abi_type(skv_builder *b, skv_abi_type type, skv_dtype dtype) {
  switch (type) {
  case SKV_ABI_DTYPE_PTR:
    return skv_type_global_buffer(b, skv_dtype_type(b, dtype));
  case SKV_ABI_F32_PTR:
    return skv_type_global_buffer(b, skv_type_f32(b));
  case SKV_ABI_I32_PTR:
    return skv_type_global_buffer(b, skv_type_i32(b));
  case SKV_ABI_I64:
    return skv_type_i64(b);
  case SKV_ABI_I32:
    break;
  }
  return skv_type_i32(b);
}

void skv_kernel_begin(skv_builder *b, MlirBlock module_body, const char *name,
                      skv_dtype dtype, int n_args, const skv_abi_arg *args, int n_shared,
                      const MlirType *shared, int block_size, int max_regs,
                      MlirValue *out_values) {
  enum { MAX_VALUES = 32 };
  MlirType types[MAX_VALUES];
  MlirLocation locs[MAX_VALUES];
  MlirAttribute per_arg[MAX_VALUES];
  for (int i = 0; i < n_args; ++i) {
    types[i] = abi_type(b, args[i].type, dtype);
    locs[i] = b->loc;
    per_arg[i] = args[i].access == SKV_ABI_VALUE
                     ? mlirDictionaryAttrGet(b->ctx, 0, NULL)
                     : arg_attrs(b, args[i].access == SKV_ABI_IN);
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

  for (int i = 0; i < plan->kernel_count; ++i) {
    const skv_kernel_desc *kernel = &plan->kernels[i];
    if (kernel->role == SKV_KERNEL_SPLIT || kernel->role == SKV_KERNEL_BALANCED)
      skv_codegen_split_kernel(&b, kernels_body, spec, plan, kernel);
    else if (kernel->role == SKV_KERNEL_COMBINE)
      skv_codegen_combine_kernel(&b, kernels_body, spec, plan, kernel);
  }

  if (!mlirOperationVerify(module_op)) {
    mlirModuleDestroy(module);
    return SKV_ERROR(SKV_CODE_INTERNAL,
                     "%s: the generated module does not verify", spec->name);
  }
  *out_module = module;
  return SKV_OK;
}
