/* A thin op-builder over the MLIR C API: one small helper per op the kernels
 * use, so the kernel generators read like the algorithm.
 *
 * A builder appends ops at the end of its current block. Structured control
 * flow (scf.for, scf.if) is opened with a *_begin call that moves the builder
 * into the new region and closed with the matching *_end call, which yields
 * the given values and moves the builder back. Internal to lib/codegen. */
#ifndef SPLITKV_CODEGEN_BUILDER_H
#define SPLITKV_CODEGEN_BUILDER_H

#include <stdint.h>

#include <mlir-c/IR.h>

#include "splitkv/types.h"

#define SKV_MAX_CARRIED 96 /* loop-carried values of one scf.for */

typedef struct skv_builder {
  MlirContext ctx;
  MlirLocation loc;
  MlirBlock block; /* ops are appended here */
} skv_builder;

/* Types. */
MlirType skv_type_index(skv_builder *b);
MlirType skv_type_i32(skv_builder *b);
MlirType skv_type_i64(skv_builder *b);
MlirType skv_type_f32(skv_builder *b);
MlirType skv_type_vector(MlirType element, int64_t n);
/* A flat global-memory buffer (address space 1) passed as a bare pointer:
 * statically shaped, as the bare-pointer calling convention requires. */
MlirType skv_type_global_buffer(skv_builder *b, MlirType element);
/* A statically sized buffer in shared memory (address space 3). */
MlirType skv_type_shared_buffer(skv_builder *b, MlirType element, int64_t n);

/* Creates op `name` with the given operands, result types and named
 * attributes, appends it, and returns it. attrs may be NULL when n_attrs 0. */
MlirOperation skv_op(skv_builder *b, const char *name, int n_operands,
                     const MlirValue *operands, int n_results,
                     const MlirType *results, int n_attrs,
                     const MlirNamedAttribute *attrs);
MlirNamedAttribute skv_named(skv_builder *b, const char *name, MlirAttribute a);

/* Constants. */
MlirValue skv_const_index(skv_builder *b, int64_t v);
MlirValue skv_const_i32(skv_builder *b, int32_t v);
MlirValue skv_const_f32(skv_builder *b, float v);
MlirValue skv_const_f32_vector(skv_builder *b, int64_t n, float v);

/* arith: integers and indices. */
MlirValue skv_addi(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_muli(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_subi(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_divui(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_remui(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_ceildivui(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_minsi(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_maxsi(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_andi(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_cmpi_slt(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_cmpi_eq(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_index_cast(skv_builder *b, MlirValue x, MlirType to);
MlirValue skv_select(skv_builder *b, MlirValue cond, MlirValue x, MlirValue y);

/* arith and math: floats (scalars or vectors of f32). */
MlirValue skv_addf(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_subf(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_mulf(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_maxf(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_fma(skv_builder *b, MlirValue x, MlirValue y, MlirValue z);
MlirValue skv_cmpf_eq(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_cmpf_gt(skv_builder *b, MlirValue x, MlirValue y);
MlirValue skv_truncf(skv_builder *b, MlirValue x, MlirType to);
MlirValue skv_exp2(skv_builder *b, MlirValue x);
MlirValue skv_tanh(skv_builder *b, MlirValue x);
/* log2 and 1/x of an f32 at the hardware's approximations (lg2.approx,
 * rcp.approx.ftz: within 2^-22 and 1 ulp, subnormals flushed to zero):
 * libdevice's exact forms are branchy sequences, and they end every CTA of
 * both kernels (docs/perf-log.md §38). */
MlirValue skv_log2(skv_builder *b, MlirValue x);
MlirValue skv_rcp(skv_builder *b, MlirValue x);
/* 2^x as one MUFU.EX2 (ex2.approx.ftz: subnormal results flush to zero)
 * and the larger of two f32 as one max.f32 (a NaN operand is ignored), for
 * chains where each instruction waits on the one before: skv_exp2 scales
 * around MUFU.EX2 for subnormals, skv_maxf checks for NaN. */
MlirValue skv_exp2_ftz(skv_builder *b, MlirValue x);
MlirValue skv_maxnumf(skv_builder *b, MlirValue x, MlirValue y);

/* vector. */
MlirValue skv_broadcast(skv_builder *b, MlirValue scalar, MlirType vector);
MlirValue skv_extract(skv_builder *b, MlirValue vector, int64_t i);
MlirValue skv_vector_bitcast(skv_builder *b, MlirValue vector, MlirType to);
MlirValue skv_from_elements(skv_builder *b, MlirType vector, int n,
                            const MlirValue *elements);
/* A 16-byte-aligned vector load/store at buffer[index]. */
MlirValue skv_vector_load(skv_builder *b, MlirType vector, MlirValue buffer,
                          MlirValue index);
void skv_vector_store(skv_builder *b, MlirValue value, MlirValue buffer,
                      MlirValue index);

/* memref: scalar loads and stores. */
MlirValue skv_load(skv_builder *b, MlirValue buffer, MlirValue index);
void skv_store(skv_builder *b, MlirValue value, MlirValue buffer,
               MlirValue index);

/* buffer[index] of a shared i32 buffer, read where it stands (volatile:
 * never forwarded from a store nor hoisted). */
MlirValue skv_load_volatile_i32(skv_builder *b, MlirValue buffer, MlirValue index);

/* x (index, below 2^31) through an instruction the compiler cannot see
 * through: what derives from the copy is computed where the copy is, not
 * hoisted out of the loop around it. */
MlirValue skv_opaque_index(skv_builder *b, MlirValue x);

/* gpu. dim is 'x', 'y' or 'z'. */
MlirValue skv_thread_id(skv_builder *b, char dim);
MlirValue skv_block_id(skv_builder *b, char dim);
MlirValue skv_grid_dim(skv_builder *b, char dim);
MlirValue skv_shuffle_xor(skv_builder *b, MlirValue x, int offset);
/* x of the lane `offset` below this one; fill in lanes below offset. */
MlirValue skv_shuffle_up(skv_builder *b, MlirValue x, int offset, MlirValue fill);
void skv_barrier(skv_builder *b);
/* bar.sync on named barrier `id` (i32, 1..15; 0 is skv_barrier's) by
 * `threads` threads (a multiple of 32), e.g. the warps that share work. */
void skv_barrier_named(skv_builder *b, MlirValue id, int threads);
/* griddepcontrol (sm_90+) of a programmatically dependent kernel:
 * launch_dependents (the grid launched after this one may start as this
 * one's CTAs leave) and wait (until the grids this one depends on have
 * completed and their memory is visible; emit it before any memory access
 * that the previous kernel may write). */
void skv_grid_launch_dependents(skv_builder *b);
void skv_grid_wait(skv_builder *b);
/* prefetch.global.L2 of the line holding element `index` of the global
 * buffer `buffer` (elements of elem_bytes). A hint: no result. */
void skv_prefetch_l2(skv_builder *b, MlirValue buffer, MlirValue index, int elem_bytes);
/* buffer[index] of a global i32 buffer, read at GPU scope (ld.relaxed.gpu,
 * L2-coherent) by inline PTX with side effects: the compiler keeps it in
 * program order with griddepcontrol and never merges two such reads of
 * one address, as it may plain loads of a read-only argument. */
MlirValue skv_load_ordered_i32(skv_builder *b, MlirValue buffer, MlirValue index);

/* Warp-level matrix ops (nvvm and llvm dialects). */

/* mma.sync m16n8k16, row.col, f32 accumulate: d = a·b + c for one warp. a
 * holds 4 registers (i32, two elements of `dtype` each), b 2, c and the
 * result 4 f32. */
void skv_mma(skv_builder *b, skv_dtype dtype, const MlirValue *a, const MlirValue *bm,
             const MlirValue *c, MlirValue *out_d);
/* movmatrix.trans: transposes an 8x8 matrix of 16-bit elements held one
 * i32 (two elements) per lane in the mma fragment layout. */
MlirValue skv_movmatrix_trans(skv_builder *b, MlirValue x);

/* scf.for lb..ub step (index or one integer type, the induction
 * variable's), carrying n values (initial values inits). */
typedef struct skv_for {
  MlirOperation op;
  MlirBlock body;
  MlirBlock parent;
  MlirValue iv;
  MlirValue carried[SKV_MAX_CARRIED];
  int n;
} skv_for;
void skv_for_begin(skv_builder *b, skv_for *loop, MlirValue lb, MlirValue ub,
                   MlirValue step, int n, const MlirValue *inits);
/* Yields next (n values) and returns to the parent block; the loop's
 * results are mlirOperationGetResult(loop->op, i). */
void skv_for_end(skv_builder *b, skv_for *loop, const MlirValue *next);

/* scf.while carrying n values (initial values inits): skv_while_begin,
 * then the condition from loop->carried, skv_while_do(cond), the body on
 * loop->body, skv_while_end(next values). The loop runs while cond holds;
 * its results are mlirOperationGetResult(loop->op, i). */
typedef struct skv_while {
  MlirOperation op;
  MlirBlock parent, after;
  MlirValue carried[SKV_MAX_CARRIED]; /* in the condition */
  MlirValue body[SKV_MAX_CARRIED];    /* in the body */
  int n;
} skv_while;
void skv_while_begin(skv_builder *b, skv_while *loop, int n, const MlirValue *inits);
void skv_while_do(skv_builder *b, skv_while *loop, MlirValue cond);
void skv_while_end(skv_builder *b, skv_while *loop, const MlirValue *next);

/* scf.if. Without results (for stores that only some threads do):
 * skv_if_begin ... skv_if_end. With n results of the given types:
 * skv_if_values_begin ... skv_if_values_else(then values) ...
 * skv_if_values_end(else values); the results are
 * mlirOperationGetResult(branch->op, i). */
typedef struct skv_if {
  MlirOperation op;
  MlirBlock parent;
  MlirBlock else_block;
  int n;
} skv_if;
void skv_if_begin(skv_builder *b, skv_if *branch, MlirValue cond);
void skv_if_end(skv_builder *b, skv_if *branch);
void skv_if_values_begin(skv_builder *b, skv_if *branch, MlirValue cond, int n,
                         const MlirType *types);
void skv_if_values_else(skv_builder *b, skv_if *branch, const MlirValue *values);
void skv_if_values_end(skv_builder *b, skv_if *branch, const MlirValue *values);

#endif /* SPLITKV_CODEGEN_BUILDER_H */
