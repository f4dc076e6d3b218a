"""splitkv's runtime through ctypes: the mirror of runtime.h's structs and
functions that the Python package (splitkv) and bench/compare.py share,
and the check of that mirror against the header.

The mirror is written once, here; EXPECTED_LAYOUT pins its offsets as gcc
printed them for runtime.h, and abi_check compares the ctypes structs with
both those offsets and (where a C compiler and cuda.h are found, and the
source tree is beside this file) with runtime.h itself.
"""

import ctypes
import os
import shutil
import subprocess
import tempfile

# The source tree, when this file is used from it (python/splitkv/ inside
# the repository): runtime.h for the live layout check.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DTYPE_CODES = {1: "bf16", 2: "f16"}   # skv_dtype (types.h)


class SkvError(RuntimeError):
    """A runtime call failed: the message carries the skv_status code and
    text (status.h)."""


c_void_p, c_int, c_int64, c_size_t = (ctypes.c_void_p, ctypes.c_int,
                                       ctypes.c_int64, ctypes.c_size_t)


# The fields both decode calls' structs spell alike, in their order.
CALL_FIELDS = [
    ("seqlens", c_void_p),
    ("out", c_void_p),
    ("lse", c_void_p),
    ("workspace", c_void_p),
    ("workspace_size", c_size_t),
    ("batch", c_int),
    ("max_seqlen", c_int),
    ("num_q_heads", c_int),
    ("num_kv_heads", c_int),
    ("head_dim", c_int),
]


class DecodeArgs(ctypes.Structure):
    """skv_decode_args of runtime/include/splitkv/runtime.h, field for field."""
    _fields_ = [
        ("q", c_void_p),
        ("k", c_void_p),
        ("v", c_void_p),
    ] + CALL_FIELDS + [
        ("k_stride_batch", c_int64),
        ("k_stride_seq", c_int64),
        ("k_stride_head", c_int64),
        ("v_stride_batch", c_int64),
        ("v_stride_seq", c_int64),
        ("v_stride_head", c_int64),
        ("num_splits", c_int),
        ("q_len", c_int),
    ]


class PagedDecodeArgs(ctypes.Structure):
    """skv_paged_decode_args (runtime.h), field for field."""
    _fields_ = [
        ("q", c_void_p),
        ("k_pages", c_void_p),
        ("v_pages", c_void_p),
        ("k_stride_page", c_int64),
        ("k_stride_slot", c_int64),
        ("k_stride_head", c_int64),
        ("v_stride_page", c_int64),
        ("v_stride_slot", c_int64),
        ("v_stride_head", c_int64),
        ("block_table", c_void_p),
        ("block_table_stride", c_int),
        ("page_indptr", c_void_p),
        ("page_indices", c_void_p),
        ("num_pages", c_int),
    ] + CALL_FIELDS + [
        ("num_splits", c_int),
        ("q_len", c_int),
    ]


class SpecInfo(ctypes.Structure):
    """skv_spec_info (runtime.h), field for field."""
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", c_int),
        ("head_dim", c_int),
        ("num_q_heads", c_int),
        ("num_kv_heads", c_int),
        ("splits", c_int),
        ("softmax_scale", ctypes.c_float),
        ("kv_layout", c_int),
        ("page_size", c_int),
        ("logit_softcap", ctypes.c_float),
        ("sliding_window", c_int),
        ("max_query_len", c_int),
    ]


class ImageInfo(ctypes.Structure):
    """skv_attention_image_info (runtime.h)."""
    _fields_ = [("kind", c_int), ("sm", ctypes.c_uint32), ("load_us", ctypes.c_double)]


# (size or None for a prefix, [(field, offset, size)]) as gcc -std=c11 on
# x86-64 Linux printed them for runtime.h at the commit that added this file.
EXPECTED_LAYOUT = {
    "skv_decode_args": (144, [
        ("q", 0, 8), ("k", 8, 8), ("v", 16, 8), ("seqlens", 24, 8),
        ("out", 32, 8), ("lse", 40, 8), ("workspace", 48, 8),
        ("workspace_size", 56, 8), ("batch", 64, 4), ("max_seqlen", 68, 4),
        ("num_q_heads", 72, 4), ("num_kv_heads", 76, 4), ("head_dim", 80, 4),
        ("k_stride_batch", 88, 8), ("k_stride_seq", 96, 8),
        ("k_stride_head", 104, 8), ("v_stride_batch", 112, 8),
        ("v_stride_seq", 120, 8), ("v_stride_head", 128, 8),
        ("num_splits", 136, 4), ("q_len", 140, 4)]),
    "skv_paged_decode_args": (184, [
        ("q", 0, 8), ("k_pages", 8, 8), ("v_pages", 16, 8), ("k_stride_page", 24, 8),
        ("k_stride_slot", 32, 8), ("k_stride_head", 40, 8), ("v_stride_page", 48, 8),
        ("v_stride_slot", 56, 8), ("v_stride_head", 64, 8), ("block_table", 72, 8),
        ("block_table_stride", 80, 4), ("page_indptr", 88, 8), ("page_indices", 96, 8),
        ("num_pages", 104, 4), ("seqlens", 112, 8), ("out", 120, 8), ("lse", 128, 8),
        ("workspace", 136, 8), ("workspace_size", 144, 8), ("batch", 152, 4),
        ("max_seqlen", 156, 4), ("num_q_heads", 160, 4), ("num_kv_heads", 164, 4),
        ("head_dim", 168, 4), ("num_splits", 172, 4), ("q_len", 176, 4)]),
    "skv_spec_info": (56, [
        ("name", 0, 8), ("dtype", 8, 4), ("head_dim", 12, 4), ("num_q_heads", 16, 4),
        ("num_kv_heads", 20, 4), ("splits", 24, 4), ("softmax_scale", 28, 4),
        ("kv_layout", 32, 4), ("page_size", 36, 4), ("logit_softcap", 40, 4),
        ("sliding_window", 44, 4), ("max_query_len", 48, 4)]),
    "skv_attention_image_info": (16, [("kind", 0, 4), ("sm", 4, 4), ("load_us", 8, 8)]),
}
CTYPES_OF = {"skv_decode_args": DecodeArgs, "skv_paged_decode_args": PagedDecodeArgs,
             "skv_spec_info": SpecInfo,
             "skv_attention_image_info": ImageInfo}


def ctypes_layout(name):
    cls = CTYPES_OF[name]
    fields = [(f, getattr(cls, f).offset, getattr(cls, f).size) for f, _ in cls._fields_]
    return ctypes.sizeof(cls), fields


class Runtime:
    """libsplitkv_runtime.so with restype/argtypes for every function used.
    A skv_status is a pointer: NULL is OK, anything else a failure the caller
    owns (message, then skv_status_free)."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise FileNotFoundError("%s: no such file (build the splitkv_runtime_shared "
                                    "target)" % path)
        self.path = path
        lib = ctypes.CDLL(os.path.abspath(path))
        P = ctypes.POINTER

        def bind(name, restype, argtypes):
            fn = getattr(lib, name)  # AttributeError names a missing symbol
            fn.restype, fn.argtypes = restype, argtypes
            return fn

        # status.h
        self.status_message = bind("skv_status_message", ctypes.c_char_p, [c_void_p])
        self.status_free = bind("skv_status_free", None, [c_void_p])
        self.status_code_of = bind("skv_status_code_of", c_int, [c_void_p])
        self.status_code_name = bind("skv_status_code_name", ctypes.c_char_p, [c_int])
        # runtime.h
        self.driver_init = bind("skv_driver_init", c_void_p, [])
        self.package_open_file = bind("skv_package_open_file", c_void_p,
                                      [ctypes.c_char_p, P(c_void_p)])
        self.package_open_memory = bind("skv_package_open_memory", c_void_p,
                                        [c_void_p, c_size_t, P(c_void_p)])
        self.package_destroy = bind("skv_package_destroy", None, [c_void_p])
        self.package_spec_count = bind("skv_package_spec_count", ctypes.c_uint32, [c_void_p])
        self.package_spec_info = bind("skv_package_spec_info", c_void_p,
                                      [c_void_p, ctypes.c_uint32, P(SpecInfo)])
        self.attention_create = bind("skv_attention_create", c_void_p,
                                     [c_void_p, ctypes.c_char_p, P(c_void_p)])
        self.attention_destroy = bind("skv_attention_destroy", None, [c_void_p])
        self.attention_info = bind("skv_attention_info", None, [c_void_p, P(SpecInfo)])
        self.attention_image = bind("skv_attention_image", None, [c_void_p, P(ImageInfo)])
        self.attention_num_splits = bind("skv_attention_num_splits", c_void_p,
                                         [c_void_p, c_int, c_int, c_int, P(c_int)])
        self.attention_workspace_size = bind("skv_attention_workspace_size", c_void_p,
                                             [c_void_p, c_int, c_int, c_int, P(c_size_t)])
        self.attention_balanced = bind("skv_attention_balanced", c_void_p,
                                       [c_void_p, c_int, c_int, c_int, P(c_int)])
        self.attention_decode = bind("skv_attention_decode", c_void_p,
                                     [c_void_p, P(DecodeArgs), c_void_p])
        self.attention_decode_paged = bind("skv_attention_decode_paged", c_void_p,
                                           [c_void_p, P(PagedDecodeArgs), c_void_p])

    def check(self, status, what):
        if not status:
            return
        code = self.status_code_of(status)
        name = (self.status_code_name(code) or b"?").decode(errors="replace")
        message = (self.status_message(status) or b"").decode(errors="replace")
        self.status_free(status)
        raise SkvError("%s: %s: %s" % (what, name, message))

    def open_package(self, path):
        handle = c_void_p()
        self.check(self.package_open_file(path.encode(), ctypes.byref(handle)),
                   "skv_package_open_file(%s)" % path)
        return handle.value

    def package_specs(self, package):
        specs = {}
        for i in range(self.package_spec_count(package)):
            info = SpecInfo()
            self.check(self.package_spec_info(package, i, ctypes.byref(info)),
                       "skv_package_spec_info(%d)" % i)
            specs[info.name.decode()] = self.spec_fields(info)
        return specs

    @staticmethod
    def spec_fields(info):
        return (info.head_dim, info.num_q_heads, info.num_kv_heads, info.softmax_scale,
                DTYPE_CODES.get(info.dtype, "dtype %d" % info.dtype), info.logit_softcap,
                info.sliding_window, max(1, info.max_query_len))

    def create_attention(self, package, name):
        handle = c_void_p()
        self.check(self.attention_create(package, name.encode(), ctypes.byref(handle)),
                   "skv_attention_create(%s)" % name)
        return handle.value

    def spec_of(self, attention):
        info = SpecInfo()
        self.attention_info(attention, ctypes.byref(info))
        return self.spec_fields(info)

    def image_of(self, attention):
        info = ImageInfo()
        self.attention_image(attention, ctypes.byref(info))
        kind = {1: "ptx", 2: "cubin"}.get(info.kind, "kind %d" % info.kind)
        return "%s sm_%d, loaded in %.0f us" % (kind, info.sm, info.load_us)

    def num_splits(self, attention, batch, max_seqlen):
        n = c_int()
        self.check(self.attention_num_splits(attention, batch, max_seqlen, 0, ctypes.byref(n)),
                   "skv_attention_num_splits")
        return n.value

    def balanced(self, attention, batch, max_seqlen):
        n = c_int()
        self.check(self.attention_balanced(attention, batch, max_seqlen, 0, ctypes.byref(n)),
                   "skv_attention_balanced")
        return bool(n.value)

    def workspace_size(self, attention, batch, max_seqlen):
        n = c_size_t()
        self.check(self.attention_workspace_size(attention, batch, max_seqlen, 0,
                                                 ctypes.byref(n)),
                   "skv_attention_workspace_size")
        return n.value


# ---- the mirror against runtime.h ---------------------------------------------

ABI_C = r"""
#include <stddef.h>
#include <stdio.h>
#include "splitkv/runtime.h"
#define T(type) printf("struct %s %zu\n", #type, sizeof(type))
#define F(type, f) printf("field %s %s %zu %zu\n", #type, #f, offsetof(type, f), \
                          sizeof(((type *)0)->f))
int main(void) {
  T(skv_decode_args);
@DECODE@
  T(skv_paged_decode_args);
@PAGED@
  T(skv_spec_info);
@SPEC@
  T(skv_attention_image_info);
@IMAGE@
  return 0;
}
"""


def header_layout(cc, cuda_include):
    """Compiles a small C program against runtime.h and returns what it prints:
    {struct: (size, [(field, offset, size)])}."""
    fields = lambda s: "\n".join("  F(%s, %s);" % (s, f) for f, _, _ in EXPECTED_LAYOUT[s][1])
    source = (ABI_C.replace("@DECODE@", fields("skv_decode_args"))
              .replace("@PAGED@", fields("skv_paged_decode_args"))
              .replace("@SPEC@", fields("skv_spec_info"))
              .replace("@IMAGE@", fields("skv_attention_image_info")))
    with tempfile.TemporaryDirectory() as tmp:
        c_path, exe = os.path.join(tmp, "abi.c"), os.path.join(tmp, "abi")
        with open(c_path, "w") as f:
            f.write(source)
        cmd = [cc, "-std=c11", "-I", os.path.join(REPO, "runtime", "include"),
               "-I", cuda_include, c_path, "-o", exe]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise SkvError("compiling the layout probe failed: %s\n%s"
                           % (" ".join(cmd), res.stderr))
        out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    layout = {}
    for line in out.splitlines():
        parts = line.split()
        if parts[0] == "struct":
            layout[parts[1]] = (int(parts[2]), [])
        else:
            layout[parts[1]][1].append((parts[2], int(parts[3]), int(parts[4])))
    return layout


def find_cuda_include(explicit):
    for cand in [explicit, os.environ.get("CUDA_HOME") and os.path.join(os.environ["CUDA_HOME"], "include"),
                 "/usr/local/cuda/include", "/usr/include"]:
        if cand and os.path.isfile(os.path.join(cand, "cuda.h")):
            return cand
    return None


def abi_check(cuda_include=None, quiet=False):
    """Returns a list of problems (empty: OK) and a line saying what was checked."""
    problems = []
    for name, (size, fields) in EXPECTED_LAYOUT.items():
        got_size, got_fields = ctypes_layout(name)
        if size is not None and got_size != size:
            problems.append("ctypes %s: sizeof %d, expected %d" % (name, got_size, size))
        if got_fields != fields:
            problems.append("ctypes %s: fields %s, expected %s" % (name, got_fields, fields))
    said = "ctypes layouts match the hard-coded offsets" if not problems else ""
    cc = shutil.which("cc") or shutil.which("gcc")
    inc = find_cuda_include(cuda_include)
    if not os.path.isfile(os.path.join(REPO, "runtime", "include", "splitkv", "runtime.h")):
        said += "; live check against runtime.h skipped (no runtime/include here)"
    elif not cc or not inc:
        said += "; live check against runtime.h skipped (%s)" % (
            "no C compiler" if not cc else "no cuda.h; pass --cuda-include")
    else:
        live = header_layout(cc, inc)
        for name, (size, fields) in EXPECTED_LAYOUT.items():
            got_size, got_fields = ctypes_layout(name)
            live_size, live_fields = live[name]
            if size is not None and live_size != got_size:
                problems.append("runtime.h %s: sizeof %d, ctypes %d" % (name, live_size, got_size))
            if live_fields != got_fields:
                problems.append("runtime.h %s: fields %s, ctypes %s" % (name, live_fields, got_fields))
        said += "; runtime.h compiled with %s (cuda.h from %s) agrees" % (cc, inc) if not problems else ""
    return problems, said.lstrip("; ")
