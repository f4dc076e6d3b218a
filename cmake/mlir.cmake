# skv::mlir — the MLIR C API from the Debian packages. The C API lives in the
# static libMLIRCAPI*.a archives (libMLIR.so exports only the C++ API); linking
# those by path plus libMLIR.so and libLLVM.so links in about a second, where
# the imported static CMake targets pull in hundreds of archives.
set(_skv_mlir_capi
  RegisterEverything Conversion Transforms IR Arith Func GPU LLVM Math MemRef
  NVGPU NVVM SCF Vector Target Interfaces)
set(_skv_mlir_libs)
foreach(_lib IN LISTS _skv_mlir_capi)
  set(_path "${SKV_LLVM_ROOT}/lib/libMLIRCAPI${_lib}.a")
  if(NOT EXISTS "${_path}")
    message(FATAL_ERROR "MLIR C API archive not found: ${_path} "
      "(install libmlir-22-dev: scripts/setup.sh)")
  endif()
  list(APPEND _skv_mlir_libs "${_path}")
endforeach()
add_library(skv_mlir INTERFACE)
target_include_directories(skv_mlir SYSTEM INTERFACE "${SKV_LLVM_ROOT}/include")
target_link_libraries(skv_mlir INTERFACE
  -Wl,--start-group ${_skv_mlir_libs} -Wl,--end-group
  "${SKV_LLVM_ROOT}/lib/libMLIR.so" "${SKV_LLVM_ROOT}/lib/libLLVM.so"
  stdc++ m)
add_library(skv::mlir ALIAS skv_mlir)
