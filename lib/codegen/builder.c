/* The op helpers of builder.h: each builds exactly one op. */
#include "builder.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <mlir-c/BuiltinAttributes.h>
#include <mlir-c/BuiltinTypes.h>

/* Flat buffers are declared this large so that any cache fits; with bare
 * pointers the size never reaches the generated code. */
#define SKV_GLOBAL_BUFFER_ELEMENTS (INT64_C(1) << 40)

enum { CMPI_EQ = 0, CMPI_SLT = 2, CMPF_OEQ = 1, CMPF_OGT = 2 };

static MlirStringRef str(const char *s) { return mlirStringRefCreateFromCString(s); }

MlirType skv_type_index(skv_builder *b) { return mlirIndexTypeGet(b->ctx); }
MlirType skv_type_i32(skv_builder *b) { return mlirIntegerTypeGet(b->ctx, 32); }
MlirType skv_type_i64(skv_builder *b) { return mlirIntegerTypeGet(b->ctx, 64); }
MlirType skv_type_f32(skv_builder *b) { return mlirF32TypeGet(b->ctx); }

MlirType skv_type_vector(MlirType element, int64_t n) {
  return mlirVectorTypeGet(1, &n, element);
}

/* Attributes the C API has no constructor for (enum kinds, address spaces,
 * shapes), from their text. */
static MlirAttribute attr_parse(skv_builder *b, const char *text) {
  MlirAttribute a = mlirAttributeParseGet(b->ctx, str(text));
  assert(!mlirAttributeIsNull(a) && "builder attribute text must parse");
  return a;
}

static MlirType buffer_type(MlirType element, int64_t n, MlirAttribute space) {
  return mlirMemRefTypeGet(element, 1, &n, mlirAttributeGetNull(), space);
}

MlirType skv_type_global_buffer(skv_builder *b, MlirType element) {
  /* Address space 1 (global) lets NVPTX skip the generic-address cvta. */
  return buffer_type(element, SKV_GLOBAL_BUFFER_ELEMENTS,
                     mlirIntegerAttrGet(skv_type_i64(b), 1));
}

MlirType skv_type_shared_buffer(skv_builder *b, MlirType element, int64_t n) {
  return buffer_type(element, n,
                     attr_parse(b, "#gpu.address_space<workgroup>"));
}

MlirOperation skv_op(skv_builder *b, const char *name, int n_operands,
                     const MlirValue *operands, int n_results,
                     const MlirType *results, int n_attrs,
                     const MlirNamedAttribute *attrs) {
  MlirOperationState state = mlirOperationStateGet(str(name), b->loc);
  mlirOperationStateAddOperands(&state, n_operands, operands);
  mlirOperationStateAddResults(&state, n_results, results);
  mlirOperationStateAddAttributes(&state, n_attrs, attrs);
  MlirOperation op = mlirOperationCreate(&state);
  mlirBlockAppendOwnedOperation(b->block, op);
  return op;
}

MlirNamedAttribute skv_named(skv_builder *b, const char *name, MlirAttribute a) {
  return mlirNamedAttributeGet(mlirIdentifierGet(b->ctx, str(name)), a);
}

static MlirValue result(MlirOperation op) { return mlirOperationGetResult(op, 0); }

static MlirValue constant(skv_builder *b, MlirAttribute value) {
  MlirNamedAttribute attr = skv_named(b, "value", value);
  MlirType type = mlirAttributeGetType(value);
  return result(skv_op(b, "arith.constant", 0, NULL, 1, &type, 1, &attr));
}

MlirValue skv_const_index(skv_builder *b, int64_t v) {
  return constant(b, mlirIntegerAttrGet(skv_type_index(b), v));
}

MlirValue skv_const_i32(skv_builder *b, int32_t v) {
  return constant(b, mlirIntegerAttrGet(skv_type_i32(b), v));
}

MlirValue skv_const_f32(skv_builder *b, float v) {
  return constant(b, mlirFloatAttrDoubleGet(b->ctx, skv_type_f32(b), v));
}

MlirValue skv_const_f32_vector(skv_builder *b, int64_t n, float v) {
  return constant(b, mlirDenseElementsAttrFloatSplatGet(
                         skv_type_vector(skv_type_f32(b), n), v));
}

/* An op whose one result has the type of its first operand. */
static MlirValue same_type_op(skv_builder *b, const char *name, int n,
                              const MlirValue *operands) {
  MlirType type = mlirValueGetType(operands[0]);
  return result(skv_op(b, name, n, operands, 1, &type, 0, NULL));
}

static MlirValue binary(skv_builder *b, const char *name, MlirValue x, MlirValue y) {
  MlirValue operands[2] = {x, y};
  return same_type_op(b, name, 2, operands);
}

MlirValue skv_addi(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.addi", x, y); }
MlirValue skv_muli(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.muli", x, y); }
MlirValue skv_subi(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.subi", x, y); }
MlirValue skv_divui(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.divui", x, y); }
MlirValue skv_remui(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.remui", x, y); }
MlirValue skv_ceildivui(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.ceildivui", x, y); }
MlirValue skv_minsi(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.minsi", x, y); }
MlirValue skv_maxsi(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.maxsi", x, y); }
MlirValue skv_andi(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.andi", x, y); }
MlirValue skv_addf(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.addf", x, y); }
MlirValue skv_subf(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.subf", x, y); }
MlirValue skv_mulf(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.mulf", x, y); }
MlirValue skv_maxf(skv_builder *b, MlirValue x, MlirValue y) { return binary(b, "arith.maximumf", x, y); }

MlirValue skv_fma(skv_builder *b, MlirValue x, MlirValue y, MlirValue z) {
  MlirValue operands[3] = {x, y, z};
  return same_type_op(b, "math.fma", 3, operands);
}

static MlirValue compare(skv_builder *b, const char *name, int predicate,
                         MlirValue x, MlirValue y) {
  MlirValue operands[2] = {x, y};
  MlirType i1 = mlirIntegerTypeGet(b->ctx, 1);
  MlirNamedAttribute attr = skv_named(
      b, "predicate", mlirIntegerAttrGet(skv_type_i64(b), predicate));
  return result(skv_op(b, name, 2, operands, 1, &i1, 1, &attr));
}

MlirValue skv_cmpi_slt(skv_builder *b, MlirValue x, MlirValue y) { return compare(b, "arith.cmpi", CMPI_SLT, x, y); }
MlirValue skv_cmpi_eq(skv_builder *b, MlirValue x, MlirValue y) { return compare(b, "arith.cmpi", CMPI_EQ, x, y); }
MlirValue skv_cmpf_eq(skv_builder *b, MlirValue x, MlirValue y) { return compare(b, "arith.cmpf", CMPF_OEQ, x, y); }
MlirValue skv_cmpf_gt(skv_builder *b, MlirValue x, MlirValue y) { return compare(b, "arith.cmpf", CMPF_OGT, x, y); }

static MlirValue cast(skv_builder *b, const char *name, MlirValue x, MlirType to) {
  return result(skv_op(b, name, 1, &x, 1, &to, 0, NULL));
}

MlirValue skv_index_cast(skv_builder *b, MlirValue x, MlirType to) { return cast(b, "arith.index_cast", x, to); }
MlirValue skv_truncf(skv_builder *b, MlirValue x, MlirType to) { return cast(b, "arith.truncf", x, to); }

MlirValue skv_select(skv_builder *b, MlirValue cond, MlirValue x, MlirValue y) {
  MlirValue operands[3] = {cond, x, y};
  MlirType type = mlirValueGetType(x);
  return result(skv_op(b, "arith.select", 3, operands, 1, &type, 0, NULL));
}

MlirValue skv_exp2(skv_builder *b, MlirValue x) { return same_type_op(b, "math.exp2", 1, &x); }
MlirValue skv_tanh(skv_builder *b, MlirValue x) { return same_type_op(b, "math.tanh", 1, &x); }
MlirValue skv_log2(skv_builder *b, MlirValue x) {
  /* afn: lg2.approx instead of libdevice's polynomial. */
  MlirType type = mlirValueGetType(x);
  MlirNamedAttribute fast = skv_named(b, "fastmath", attr_parse(b, "#arith.fastmath<afn>"));
  return result(skv_op(b, "math.log2", 1, &x, 1, &type, 1, &fast));
}

MlirValue skv_rcp(skv_builder *b, MlirValue x) {
  MlirType type = mlirValueGetType(x);
  return result(skv_op(b, "nvvm.rcp.approx.ftz.f", 1, &x, 1, &type, 0, NULL));
}

MlirValue skv_broadcast(skv_builder *b, MlirValue scalar, MlirType vector) {
  return cast(b, "vector.broadcast", scalar, vector);
}

MlirValue skv_extract(skv_builder *b, MlirValue vector, int64_t i) {
  MlirType element = mlirShapedTypeGetElementType(mlirValueGetType(vector));
  MlirNamedAttribute pos = skv_named(b, "static_position", mlirDenseI64ArrayGet(b->ctx, 1, &i));
  return result(skv_op(b, "vector.extract", 1, &vector, 1, &element, 1, &pos));
}

MlirValue skv_vector_bitcast(skv_builder *b, MlirValue vector, MlirType to) {
  return cast(b, "vector.bitcast", vector, to);
}

MlirValue skv_from_elements(skv_builder *b, MlirType vector, int n,
                            const MlirValue *elements) {
  return result(skv_op(b, "vector.from_elements", n, elements, 1, &vector, 0, NULL));
}

static MlirNamedAttribute alignment16(skv_builder *b) {
  return skv_named(b, "alignment", mlirIntegerAttrGet(skv_type_i64(b), 16));
}

MlirValue skv_vector_load(skv_builder *b, MlirType vector, MlirValue buffer,
                          MlirValue index) {
  MlirValue operands[2] = {buffer, index};
  MlirNamedAttribute align = alignment16(b);
  return result(skv_op(b, "vector.load", 2, operands, 1, &vector, 1, &align));
}

void skv_vector_store(skv_builder *b, MlirValue value, MlirValue buffer,
                      MlirValue index) {
  MlirValue operands[3] = {value, buffer, index};
  MlirNamedAttribute align = alignment16(b);
  skv_op(b, "vector.store", 3, operands, 0, NULL, 1, &align);
}

MlirValue skv_load(skv_builder *b, MlirValue buffer, MlirValue index) {
  MlirValue operands[2] = {buffer, index};
  MlirType element = mlirShapedTypeGetElementType(mlirValueGetType(buffer));
  return result(skv_op(b, "memref.load", 2, operands, 1, &element, 0, NULL));
}

void skv_store(skv_builder *b, MlirValue value, MlirValue buffer, MlirValue index) {
  MlirValue operands[3] = {value, buffer, index};
  skv_op(b, "memref.store", 3, operands, 0, NULL, 0, NULL);
}

static MlirValue gpu_id(skv_builder *b, const char *name, char dim) {
  char text[16] = "#gpu<dim x>";
  text[9] = dim;
  MlirNamedAttribute attr = skv_named(b, "dimension", attr_parse(b, text));
  MlirType index = skv_type_index(b);
  return result(skv_op(b, name, 0, NULL, 1, &index, 1, &attr));
}

MlirValue skv_thread_id(skv_builder *b, char dim) { return gpu_id(b, "gpu.thread_id", dim); }
MlirValue skv_block_id(skv_builder *b, char dim) { return gpu_id(b, "gpu.block_id", dim); }
MlirValue skv_grid_dim(skv_builder *b, char dim) { return gpu_id(b, "gpu.grid_dim", dim); }

MlirValue skv_shuffle_xor(skv_builder *b, MlirValue x, int offset) {
  MlirValue operands[3] = {x, skv_const_i32(b, offset), skv_const_i32(b, 32)};
  MlirType results[2] = {mlirValueGetType(x), mlirIntegerTypeGet(b->ctx, 1)};
  MlirNamedAttribute mode = skv_named(b, "mode", attr_parse(b, "#gpu<shuffle_mode xor>"));
  return result(skv_op(b, "gpu.shuffle", 3, operands, 2, results, 1, &mode));
}

MlirValue skv_shuffle_up(skv_builder *b, MlirValue x, int offset, MlirValue fill) {
  MlirValue operands[3] = {x, skv_const_i32(b, offset), skv_const_i32(b, 32)};
  MlirType results[2] = {mlirValueGetType(x), mlirIntegerTypeGet(b->ctx, 1)};
  MlirNamedAttribute mode = skv_named(b, "mode", attr_parse(b, "#gpu<shuffle_mode up>"));
  MlirOperation op = skv_op(b, "gpu.shuffle", 3, operands, 2, results, 1, &mode);
  return skv_select(b, mlirOperationGetResult(op, 1), mlirOperationGetResult(op, 0), fill);
}

void skv_barrier(skv_builder *b) { skv_op(b, "gpu.barrier", 0, NULL, 0, NULL, 0, NULL); }

static void griddepcontrol(skv_builder *b, const char *action) {
  MlirNamedAttribute kind = skv_named(b, "kind", attr_parse(b, action));
  skv_op(b, "nvvm.griddepcontrol", 0, NULL, 0, NULL, 1, &kind);
}

void skv_grid_launch_dependents(skv_builder *b) {
  griddepcontrol(b, "#nvvm<grid_dep_action launch_dependents>");
}

void skv_grid_wait(skv_builder *b) { griddepcontrol(b, "#nvvm<grid_dep_action wait>"); }

/* The global address (i64) of element `index` of a buffer. */
static MlirValue element_address(skv_builder *b, MlirValue buffer, MlirValue index,
                                 int elem_bytes) {
  MlirType index_type = skv_type_index(b);
  MlirValue base = result(skv_op(b, "memref.extract_aligned_pointer_as_index", 1, &buffer, 1,
                                 &index_type, 0, NULL));
  MlirValue address = skv_addi(b, base, skv_muli(b, index, skv_const_index(b, elem_bytes)));
  return skv_index_cast(b, address, skv_type_i64(b));
}

/* Inline PTX with side effects: kept, and kept in order. */
static MlirOperation asm_op(skv_builder *b, const char *text, const char *constraints,
                            MlirValue operand, int n_results, const MlirType *results) {
  MlirNamedAttribute attrs[] = {
      skv_named(b, "asm_string", mlirStringAttrGet(b->ctx, str(text))),
      skv_named(b, "constraints", mlirStringAttrGet(b->ctx, str(constraints))),
      skv_named(b, "has_side_effects", mlirUnitAttrGet(b->ctx)),
  };
  return skv_op(b, "llvm.inline_asm", 1, &operand, n_results, results, 3, attrs);
}

MlirValue skv_load_volatile_i32(skv_builder *b, MlirValue buffer, MlirValue index) {
  MlirType i32 = skv_type_i32(b);
  return result(asm_op(b, "ld.volatile.shared.b32 $0, [$1];", "=r,l",
                       element_address(b, buffer, index, 4), 1, &i32));
}

MlirValue skv_opaque_index(skv_builder *b, MlirValue x) {
  MlirType i32 = skv_type_i32(b);
  MlirValue copy = result(asm_op(b, "mov.b32 $0, $1;", "=r,r", skv_index_cast(b, x, i32), 1, &i32));
  return skv_index_cast(b, copy, skv_type_index(b));
}

void skv_barrier_named(skv_builder *b, MlirValue id, int threads) {
  char text[48];
  snprintf(text, sizeof(text), "bar.sync $0, %d;", threads);
  asm_op(b, text, "r", id, 0, NULL);
}

void skv_prefetch_l2(skv_builder *b, MlirValue buffer, MlirValue index, int elem_bytes) {
  asm_op(b, "prefetch.global.L2 [$0];", "l", element_address(b, buffer, index, elem_bytes),
         0, NULL);
}

MlirValue skv_exp2_ftz(skv_builder *b, MlirValue x) {
  MlirType f32 = skv_type_f32(b);
  MlirNamedAttribute attrs[] = {
      skv_named(b, "asm_string", mlirStringAttrGet(b->ctx, str("ex2.approx.ftz.f32 $0, $1;"))),
      skv_named(b, "constraints", mlirStringAttrGet(b->ctx, str("=f,f"))),
  };
  return result(skv_op(b, "llvm.inline_asm", 1, &x, 1, &f32, 2, attrs));
}

/* llvm.intr.maxnum: arith.maxnumf would be expanded into compares. */
MlirValue skv_maxnumf(skv_builder *b, MlirValue x, MlirValue y) {
  return binary(b, "llvm.intr.maxnum", x, y);
}

MlirValue skv_load_ordered_i32(skv_builder *b, MlirValue buffer, MlirValue index) {
  MlirType i32 = skv_type_i32(b);
  return result(asm_op(b, "ld.relaxed.gpu.global.b32 $0, [$1];", "=r,l",
                       element_address(b, buffer, index, 4), 1, &i32));
}

/* An f16 mma takes its operands as vector<2xf16>; bf16 takes them as i32. */
static MlirValue mma_operand(skv_builder *b, skv_dtype dtype, MlirValue reg) {
  if (dtype == SKV_DTYPE_BF16)
    return reg;
  MlirType f16x2 = skv_type_vector(mlirF16TypeGet(b->ctx), 2);
  return cast(b, "llvm.bitcast", reg, f16x2);
}

void skv_mma(skv_builder *b, skv_dtype dtype, const MlirValue *a, const MlirValue *bm,
             const MlirValue *c, MlirValue *out_d) {
  const int na = 4, nb = 2;
  MlirValue operands[4 + 2 + 4];
  for (int i = 0; i < na; ++i)
    operands[i] = mma_operand(b, dtype, a[i]);
  for (int i = 0; i < nb; ++i)
    operands[na + i] = mma_operand(b, dtype, bm[i]);
  for (int i = 0; i < 4; ++i)
    operands[na + nb + i] = c[i];
  const char *type = dtype == SKV_DTYPE_BF16 ? "#nvvm.mma_type<bf16>" : "#nvvm.mma_type<f16>";
  int32_t segments[3] = {na, nb, 4};
  MlirNamedAttribute attrs[] = {
      skv_named(b, "layoutA", attr_parse(b, "#nvvm.mma_layout<row>")),
      skv_named(b, "layoutB", attr_parse(b, "#nvvm.mma_layout<col>")),
      skv_named(b, "shape", attr_parse(b, "#nvvm.shape<m = 16, n = 8, k = 16>")),
      skv_named(b, "multiplicandAPtxType", attr_parse(b, type)),
      skv_named(b, "multiplicandBPtxType", attr_parse(b, type)),
      skv_named(b, "operandSegmentSizes", mlirDenseI32ArrayGet(b->ctx, 3, segments)),
  };
  MlirType f32x4 = mlirTypeParseGet(b->ctx, mlirStringRefCreateFromCString(
                                                "!llvm.struct<(f32, f32, f32, f32)>"));
  MlirValue d = result(skv_op(b, "nvvm.mma.sync", na + nb + 4, operands, 1, &f32x4,
                              (int)(sizeof(attrs) / sizeof(attrs[0])), attrs));
  MlirType f32 = skv_type_f32(b);
  for (int64_t i = 0; i < 4; ++i) {
    MlirNamedAttribute pos = skv_named(b, "position", mlirDenseI64ArrayGet(b->ctx, 1, &i));
    out_d[i] = result(skv_op(b, "llvm.extractvalue", 1, &d, 1, &f32, 1, &pos));
  }
}

MlirValue skv_movmatrix_trans(skv_builder *b, MlirValue x) {
  /* No dialect op exists for movmatrix: inline PTX. It is pure (no memory,
   * no side effects), so LLVM may schedule it freely. */
  MlirNamedAttribute attrs[] = {
      skv_named(b, "asm_string", mlirStringAttrGet(b->ctx, str(
          "movmatrix.sync.aligned.m8n8.trans.b16 $0, $1;"))),
      skv_named(b, "constraints", mlirStringAttrGet(b->ctx, str("=r,r"))),
  };
  MlirType i32 = skv_type_i32(b);
  return result(skv_op(b, "llvm.inline_asm", 1, &x, 1, &i32, 2, attrs));
}

void skv_for_begin(skv_builder *b, skv_for *loop, MlirValue lb, MlirValue ub,
                   MlirValue step, int n, const MlirValue *inits) {
  assert(n <= SKV_MAX_CARRIED);
  MlirValue operands[3 + SKV_MAX_CARRIED] = {lb, ub, step};
  MlirType types[1 + SKV_MAX_CARRIED] = {mlirValueGetType(lb)};
  MlirLocation locs[1 + SKV_MAX_CARRIED] = {b->loc};
  for (int i = 0; i < n; ++i) {
    operands[3 + i] = inits[i];
    types[1 + i] = mlirValueGetType(inits[i]);
    locs[1 + i] = b->loc;
  }
  MlirBlock body = mlirBlockCreate(1 + n, types, locs);
  MlirRegion region = mlirRegionCreate();
  mlirRegionAppendOwnedBlock(region, body);

  MlirOperationState state = mlirOperationStateGet(str("scf.for"), b->loc);
  mlirOperationStateAddOperands(&state, 3 + n, operands);
  mlirOperationStateAddResults(&state, n, types + 1);
  mlirOperationStateAddOwnedRegions(&state, 1, &region);
  loop->op = mlirOperationCreate(&state);
  mlirBlockAppendOwnedOperation(b->block, loop->op);

  loop->body = body;
  loop->parent = b->block;
  loop->iv = mlirBlockGetArgument(body, 0);
  loop->n = n;
  for (int i = 0; i < n; ++i)
    loop->carried[i] = mlirBlockGetArgument(body, 1 + i);
  b->block = body;
}

void skv_for_end(skv_builder *b, skv_for *loop, const MlirValue *next) {
  skv_op(b, "scf.yield", loop->n, next, 0, NULL, 0, NULL);
  b->block = loop->parent;
}

void skv_while_begin(skv_builder *b, skv_while *loop, int n, const MlirValue *inits) {
  assert(n <= SKV_MAX_CARRIED);
  MlirType types[SKV_MAX_CARRIED];
  MlirLocation locs[SKV_MAX_CARRIED];
  for (int i = 0; i < n; ++i) {
    types[i] = mlirValueGetType(inits[i]);
    locs[i] = b->loc;
  }
  MlirBlock before = mlirBlockCreate(n, types, locs);
  MlirBlock after = mlirBlockCreate(n, types, locs);
  MlirRegion regions[2] = {mlirRegionCreate(), mlirRegionCreate()};
  mlirRegionAppendOwnedBlock(regions[0], before);
  mlirRegionAppendOwnedBlock(regions[1], after);
  MlirOperationState state = mlirOperationStateGet(str("scf.while"), b->loc);
  mlirOperationStateAddOperands(&state, n, inits);
  mlirOperationStateAddResults(&state, n, types);
  mlirOperationStateAddOwnedRegions(&state, 2, regions);
  loop->op = mlirOperationCreate(&state);
  mlirBlockAppendOwnedOperation(b->block, loop->op);
  loop->parent = b->block;
  loop->after = after;
  loop->n = n;
  for (int i = 0; i < n; ++i) {
    loop->carried[i] = mlirBlockGetArgument(before, i);
    loop->body[i] = mlirBlockGetArgument(after, i);
  }
  b->block = before;
}

void skv_while_do(skv_builder *b, skv_while *loop, MlirValue cond) {
  MlirValue operands[1 + SKV_MAX_CARRIED] = {cond};
  for (int i = 0; i < loop->n; ++i)
    operands[1 + i] = loop->carried[i];
  skv_op(b, "scf.condition", 1 + loop->n, operands, 0, NULL, 0, NULL);
  b->block = loop->after;
}

void skv_while_end(skv_builder *b, skv_while *loop, const MlirValue *next) {
  skv_op(b, "scf.yield", loop->n, next, 0, NULL, 0, NULL);
  b->block = loop->parent;
}

void skv_if_values_begin(skv_builder *b, skv_if *branch, MlirValue cond, int n,
                         const MlirType *types) {
  MlirBlock then_block = mlirBlockCreate(0, NULL, NULL);
  MlirRegion regions[2] = {mlirRegionCreate(), mlirRegionCreate()};
  mlirRegionAppendOwnedBlock(regions[0], then_block);
  branch->else_block = (MlirBlock){NULL};
  if (n > 0) {
    branch->else_block = mlirBlockCreate(0, NULL, NULL);
    mlirRegionAppendOwnedBlock(regions[1], branch->else_block);
  }

  MlirOperationState state = mlirOperationStateGet(str("scf.if"), b->loc);
  mlirOperationStateAddOperands(&state, 1, &cond);
  mlirOperationStateAddResults(&state, n, types);
  mlirOperationStateAddOwnedRegions(&state, 2, regions);
  branch->op = mlirOperationCreate(&state);
  mlirBlockAppendOwnedOperation(b->block, branch->op);
  branch->parent = b->block;
  branch->n = n;
  b->block = then_block;
}

void skv_if_values_else(skv_builder *b, skv_if *branch, const MlirValue *values) {
  skv_op(b, "scf.yield", branch->n, values, 0, NULL, 0, NULL);
  b->block = branch->else_block;
}

void skv_if_values_end(skv_builder *b, skv_if *branch, const MlirValue *values) {
  skv_op(b, "scf.yield", branch->n, values, 0, NULL, 0, NULL);
  b->block = branch->parent;
}

void skv_if_begin(skv_builder *b, skv_if *branch, MlirValue cond) {
  skv_if_values_begin(b, branch, cond, 0, NULL);
}

void skv_if_end(skv_builder *b, skv_if *branch) {
  skv_if_values_end(b, branch, NULL);
}
