/* The compile pipeline, in-process through the MLIR C API. */
#include "splitkv/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mlir-c/BuiltinAttributes.h>
#include <mlir-c/Diagnostics.h>
#include <mlir-c/Dialect/GPU.h>
#include <mlir-c/Pass.h>
#include <mlir-c/RegisterEverything.h>
#include <mlir-c/Target/LLVMIR.h>

struct skv_compiler {
  MlirContext ctx;
  char cuda_root[512];
  /* MLIR error diagnostics since the last take_diagnostics. */
  char *diagnostics;
  size_t diagnostics_len;
};

/* Growable string used for diagnostics and printed IR. */
typedef struct text_buffer {
  char *data;
  size_t len;
} text_buffer;

static void text_append(char **data, size_t *len, const char *s, size_t n) {
  char *grown = realloc(*data, *len + n + 1);
  if (!grown)
    return; /* keep what we have: diagnostics are best effort */
  memcpy(grown + *len, s, n);
  *len += n;
  grown[*len] = '\0';
  *data = grown;
}

static void print_to_text(MlirStringRef s, void *user) {
  text_buffer *t = user;
  text_append(&t->data, &t->len, s.data, s.length);
}

static void print_to_diagnostics(MlirStringRef s, void *user) {
  skv_compiler *c = user;
  text_append(&c->diagnostics, &c->diagnostics_len, s.data, s.length);
}

static MlirLogicalResult on_diagnostic(MlirDiagnostic d, void *user) {
  skv_compiler *c = user;
  if (mlirDiagnosticGetSeverity(d) == MlirDiagnosticError) {
    mlirLocationPrint(mlirDiagnosticGetLocation(d), print_to_diagnostics, c);
    text_append(&c->diagnostics, &c->diagnostics_len, ": ", 2);
    mlirDiagnosticPrint(d, print_to_diagnostics, c);
    text_append(&c->diagnostics, &c->diagnostics_len, "\n", 1);
  }
  return mlirLogicalResultSuccess();
}

/* Returns a COMPILE_ERROR carrying the collected diagnostics, if any were
 * reported, whatever the pass manager said; clears them either way. */
static skv_status take_diagnostics(skv_compiler *c, int failed, const char *stage) {
  skv_status s = SKV_OK;
  if (c->diagnostics_len > 0 || failed)
    s = SKV_ERROR(SKV_CODE_COMPILE_ERROR, "%s failed%s%s", stage,
                  c->diagnostics_len ? ":\n" : "",
                  c->diagnostics_len ? c->diagnostics : "");
  free(c->diagnostics);
  c->diagnostics = NULL;
  c->diagnostics_len = 0;
  return s;
}

skv_status skv_compiler_create(const char *cuda_root, skv_compiler **out_compiler) {
  /* The path goes into a pass pipeline's text (gpu-module-to-binary's
   * toolkit option), which ends an option at a space or a brace. */
  if (strlen(cuda_root) >= sizeof(((skv_compiler *)0)->cuda_root))
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "the CUDA toolkit path is %zu bytes long; at most %zu",
                     strlen(cuda_root), sizeof(((skv_compiler *)0)->cuda_root) - 1);
  if (strpbrk(cuda_root, " \t\n{}"))
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "the CUDA toolkit path '%s' holds a space or a brace, which the "
                     "pass pipeline cannot take; give a path without them (a symlink)",
                     cuda_root);
  skv_compiler *c = calloc(1, sizeof(*c));
  if (!c)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "out of memory creating the compiler");
  snprintf(c->cuda_root, sizeof(c->cuda_root), "%s", cuda_root);
  /* Registering everything (not dialect by dialect) is what brings in the
   * NVVM target model that gpu-module-to-binary needs. */
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  mlirRegisterAllDialects(registry);
  c->ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  mlirContextLoadAllAvailableDialects(c->ctx);
  mlirRegisterAllLLVMTranslations(c->ctx);
  mlirRegisterAllPasses();
  mlirContextAttachDiagnosticHandler(c->ctx, on_diagnostic, c, NULL);
  *out_compiler = c;
  return SKV_OK;
}

void skv_compiler_destroy(skv_compiler *compiler) {
  if (!compiler)
    return;
  mlirContextDestroy(compiler->ctx);
  free(compiler->diagnostics);
  free(compiler);
}

const char *skv_compiler_cuda_root(const skv_compiler *compiler) {
  return compiler->cuda_root;
}

static skv_status run_pipeline(skv_compiler *c, MlirModule module,
                               const char *pipeline, const char *stage) {
  MlirPassManager pm = mlirPassManagerCreate(c->ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  text_buffer err = {0};
  MlirLogicalResult parsed = mlirParsePassPipeline(
      opm, mlirStringRefCreateFromCString(pipeline), print_to_text, &err);
  if (mlirLogicalResultIsFailure(parsed)) {
    mlirPassManagerDestroy(pm);
    skv_status s = SKV_ERROR(SKV_CODE_INTERNAL, "bad %s pipeline: %s", stage,
                             err.data ? err.data : "");
    free(err.data);
    return s;
  }
  MlirLogicalResult ran = mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module));
  mlirPassManagerDestroy(pm);
  return take_diagnostics(c, mlirLogicalResultIsFailure(ran), stage);
}

skv_status skv_pipeline_simplify(skv_compiler *compiler, MlirModule module) {
  return run_pipeline(compiler, module,
                      "builtin.module(gpu.module(canonicalize,cse))",
                      "simplifying the kernels");
}

skv_status skv_pipeline_lower(skv_compiler *compiler, MlirModule module, int sm) {
  char pipeline[1024];
  /* ptx80 is what CUDA 12+ ptxas and every driver we target accept. */
  snprintf(pipeline, sizeof(pipeline),
           "builtin.module(nvvm-attach-target{chip=sm_%d features=+ptx80 O=3},"
           "gpu.module(convert-scf-to-cf,arith-expand,expand-strided-metadata,"
           "lower-affine,convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=true "
           "has-redux=true},convert-vector-to-llvm,convert-ub-to-llvm,"
           "convert-nvvm-to-llvm,canonicalize,cse,reconcile-unrealized-casts))",
           sm);
  return run_pipeline(compiler, module, pipeline, "lowering to NVVM");
}

static MlirOperation find_gpu_module(MlirModule module) {
  MlirOperation op = mlirBlockGetFirstOperation(mlirModuleGetBody(module));
  for (; !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op)) {
    MlirIdentifier name = mlirOperationGetName(op);
    MlirStringRef s = mlirIdentifierStr(name);
    if (s.length == 10 && memcmp(s.data, "gpu.module", 10) == 0)
      return op;
  }
  return (MlirOperation){NULL};
}

skv_status skv_pipeline_translate_llvm(skv_compiler *compiler, MlirModule module,
                                       char **out_text) {
  MlirOperation gpu_module = find_gpu_module(module);
  if (mlirOperationIsNull(gpu_module))
    return SKV_ERROR(SKV_CODE_INTERNAL, "no gpu.module to translate");
  /* Translation wants a builtin module: copy the kernels into one. */
  MlirModule kernels = mlirModuleCreateEmpty(mlirOperationGetLocation(gpu_module));
  MlirBlock src = mlirRegionGetFirstBlock(mlirOperationGetRegion(gpu_module, 0));
  for (MlirOperation op = mlirBlockGetFirstOperation(src); !mlirOperationIsNull(op);
       op = mlirOperationGetNextInBlock(op))
    mlirBlockAppendOwnedOperation(mlirModuleGetBody(kernels), mlirOperationClone(op));
  char *text = mlirTranslateModuleToLLVMIRToString(mlirModuleGetOperation(kernels));
  mlirModuleDestroy(kernels);
  SKV_RETURN_IF_ERROR(take_diagnostics(compiler, text == NULL, "translating to LLVM IR"),
                      "LLVM IR");
  *out_text = text;
  return SKV_OK;
}

/* PTX that ptxas would reject or that silently lost performance. */
static skv_status check_ptx(const char *ptx) {
  if (strstr(ptx, ".extern .func"))
    return SKV_ERROR(SKV_CODE_COMPILE_ERROR,
                     "the PTX calls an unresolved external function (libdevice "
                     "not found? check the CUDA toolkit path):\n%.400s",
                     strstr(ptx, ".extern .func"));
  return SKV_OK;
}

skv_status skv_pipeline_emit_ptx(skv_compiler *compiler, MlirModule module,
                                 char **out_ptx) {
  char pipeline[700];
  snprintf(pipeline, sizeof(pipeline),
           "builtin.module(gpu-module-to-binary{format=isa toolkit=%s})",
           compiler->cuda_root);
  SKV_RETURN_IF_ERROR_PLAIN(run_pipeline(compiler, module, pipeline, "PTX generation"));

  MlirOperation binary = mlirBlockGetFirstOperation(mlirModuleGetBody(module));
  MlirAttribute objects = mlirOperationGetAttributeByName(
      binary, mlirStringRefCreateFromCString("objects"));
  if (mlirAttributeIsNull(objects) || mlirArrayAttrGetNumElements(objects) != 1)
    return SKV_ERROR(SKV_CODE_INTERNAL, "PTX generation left no single gpu.binary object");
  MlirStringRef ptx = mlirGPUObjectAttrGetObject(mlirArrayAttrGetElement(objects, 0));
  char *text = malloc(ptx.length + 1);
  if (!text)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "out of memory copying PTX");
  memcpy(text, ptx.data, ptx.length);
  text[ptx.length] = '\0';
  skv_status s = check_ptx(text);
  if (s) {
    free(text);
    return s;
  }
  *out_ptx = text;
  return SKV_OK;
}

static skv_status print_module(MlirModule module, char **out_text) {
  text_buffer t = {0};
  mlirOperationPrint(mlirModuleGetOperation(module), print_to_text, &t);
  if (!t.data)
    return SKV_ERROR(SKV_CODE_OUT_OF_MEMORY, "out of memory printing MLIR");
  *out_text = t.data;
  return SKV_OK;
}

static skv_status run_stages(skv_compiler *c, MlirModule module, int sm,
                             skv_emit emit, char **out_text) {
  SKV_RETURN_IF_ERROR_PLAIN(skv_pipeline_simplify(c, module));
  if (emit == SKV_EMIT_MLIR)
    return print_module(module, out_text);
  SKV_RETURN_IF_ERROR_PLAIN(skv_pipeline_lower(c, module, sm));
  if (emit == SKV_EMIT_LLVM)
    return skv_pipeline_translate_llvm(c, module, out_text);
  return skv_pipeline_emit_ptx(c, module, out_text);
}

skv_status skv_compile_spec(skv_compiler *compiler, const skv_spec *spec,
                            int sm, skv_emit emit, skv_kernel_plan *out_plan,
                            char **out_text) {
  if (emit != SKV_EMIT_MLIR && emit != SKV_EMIT_LLVM && emit != SKV_EMIT_PTX)
    return SKV_ERROR(SKV_CODE_INVALID_ARGUMENT,
                     "skv_compile_spec stops after MLIR, LLVM or PTX, not stage %d", (int)emit);
  skv_kernel_plan plan;
  MlirModule module;
  SKV_RETURN_IF_ERROR(skv_codegen_plan(spec, sm, &plan), "sm_%d", sm);
  SKV_RETURN_IF_ERROR(skv_codegen_build(compiler->ctx, spec, &plan, &module),
                      "sm_%d", sm);
  skv_status s = run_stages(compiler, module, sm, emit, out_text);
  mlirModuleDestroy(module);
  SKV_RETURN_IF_ERROR(s, "%s for sm_%d", spec->name, sm);
  *out_plan = plan;
  return SKV_OK;
}
