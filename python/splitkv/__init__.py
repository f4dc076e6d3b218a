"""splitkv from Python: open a kernel package, load a spec's kernels, run
decode attention on PyTorch CUDA tensors (or any array with
__cuda_array_interface__, then with out, workspace and stream given),
through the C runtime (libsplitkv_runtime.so) over ctypes; no compiled
extension.

    import splitkv, torch
    pkg = splitkv.Package("llama3_8b.skvpkg")
    att = pkg.attention("llama3_8b")
    out = att.decode(q, k_cache, v_cache, seqlens)   # torch CUDA tensors

The library is found from $SPLITKV_RUNTIME, else beside this package
(libsplitkv_runtime.so, as a wheel bundles it), else by the loader's
search path. Every runtime failure raises SkvError carrying the runtime's
status code and message.
"""

import ctypes
import ctypes.util
import os

from ._runtime import (DTYPE_CODES, DecodeArgs, PagedDecodeArgs, Runtime, SkvError, SpecInfo,
                       abi_check)

__all__ = ["Package", "Attention", "Spec", "SkvError", "runtime", "abi_check"]

_RUNTIME = None


def runtime():
    """The loaded runtime library (opened on first use)."""
    global _RUNTIME
    if _RUNTIME is None:
        path = os.environ.get("SPLITKV_RUNTIME")
        if not path:
            bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "libsplitkv_runtime.so")
            path = bundled if os.path.isfile(bundled) else ctypes.util.find_library(
                "splitkv_runtime")
        if not path:
            raise SkvError("libsplitkv_runtime.so not found: set SPLITKV_RUNTIME to its path")
        _RUNTIME = Runtime(path)
    return _RUNTIME


class Spec:
    """A spec as its package records it (runtime.h, skv_spec_info)."""

    FIELDS = ("name", "dtype", "head_dim", "num_q_heads", "num_kv_heads", "splits",
              "softmax_scale", "kv_layout", "page_size", "logit_softcap", "sliding_window",
              "max_query_len")

    def __init__(self, info):
        for field in self.FIELDS:
            setattr(self, field, getattr(info, field))
        self.name = info.name.decode()
        self.dtype = DTYPE_CODES.get(info.dtype, "dtype %d" % info.dtype)
        self.kv_layout = {1: "contiguous", 2: "paged"}.get(info.kv_layout, info.kv_layout)

    def __repr__(self):
        return "Spec(%s)" % ", ".join("%s=%r" % (f, getattr(self, f)) for f in self.FIELDS)


class _Owned:
    """A runtime object this Python object owns: destroyed by close() or
    when collected."""

    _handle, _destroy = None, None

    def close(self):
        if self._handle:
            self._destroy(self._handle)
            self._handle = None

    def __del__(self):
        self.close()


class Package(_Owned):
    """A verified kernel package, from a file path or its bytes."""

    def __init__(self, source):
        rt = runtime()
        handle = ctypes.c_void_p()
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            rt.check(rt.package_open_memory(data, len(data), ctypes.byref(handle)),
                     "skv_package_open_memory")
        else:
            path = os.fspath(source)
            rt.check(rt.package_open_file(path.encode(), ctypes.byref(handle)),
                     "skv_package_open_file(%s)" % path)
        self._rt, self._handle, self._destroy = rt, handle.value, rt.package_destroy

    @property
    def specs(self):
        """Every spec the package holds, in its order."""
        specs = []
        for i in range(self._rt.package_spec_count(self._handle)):
            info = SpecInfo()
            self._rt.check(self._rt.package_spec_info(self._handle, i, ctypes.byref(info)),
                           "skv_package_spec_info(%d)" % i)
            specs.append(Spec(info))
        return specs

    def attention(self, name):
        """Spec `name`'s kernels, loaded for the current CUDA device."""
        return Attention(self, name)


def _torch():
    try:
        import torch  # only what decode allocates needs it
    except ImportError:
        raise SkvError("without torch, pass out, workspace and stream")
    return torch


class _ArrayInterface:
    """A device array that offers __cuda_array_interface__ (CuPy, Numba,
    ...), read through the same few methods as a torch tensor. 2-byte
    elements of no numeric type ('V2', how arrays without a bf16 type
    export one) are taken as bf16."""

    TYPES = {"f2": "float16", "V2": "bfloat16", "i4": "int32", "u1": "uint8"}

    def __init__(self, array):
        cai = array.__cuda_array_interface__
        self.shape = tuple(cai["shape"])
        typestr = cai["typestr"][1:]
        if typestr not in self.TYPES:
            raise SkvError("arrays of type %s are not taken (f2, V2 as bf16, i4, u1)"
                           % cai["typestr"])
        self.dtype, itemsize = self.TYPES[typestr], int(typestr[1:])
        self._ptr = cai["data"][0]
        self._contiguous = contiguous_strides(self.shape)
        strides = cai.get("strides")
        self._strides = (tuple(b // itemsize for b in strides) if strides
                         else self._contiguous)

    def dim(self):
        return len(self.shape)

    def stride(self, i):
        return self._strides[i]

    def data_ptr(self):
        return self._ptr

    def is_contiguous(self):
        return self._strides == self._contiguous

    def numel(self):
        n = 1
        for d in self.shape:
            n *= d
        return n


def _strides(cache, token_dim, head_dim):
    """A cache's element strides per batch (or page), token and head."""
    return cache.stride(0), cache.stride(token_dim), cache.stride(head_dim)


def contiguous_strides(shape):
    """The element strides of a C-contiguous array of this shape."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.insert(0, step)
        step *= n
    return tuple(strides)


def _tensor(obj):
    """obj as the calls read it: a torch tensor (or anything with its
    protocol) as it is, else through __cuda_array_interface__."""
    if obj is None or (hasattr(obj, "data_ptr") and hasattr(obj, "stride")):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return _ArrayInterface(obj)
    raise SkvError("%s is neither a torch tensor nor a __cuda_array_interface__ array"
                   % type(obj).__name__)


def _dtype_of(tensor):
    """"bf16", "f16", "int32" or the dtype's own name, from its name
    (torch.bfloat16, ...): no torch import needed to read it."""
    name = str(getattr(tensor, "dtype", "?")).replace("torch.", "")
    return {"bfloat16": "bf16", "float16": "f16"}.get(name, name)


class Attention(_Owned):
    """One spec's loaded kernels (skv_attention). Independent of the package
    once created (the runtime copies what it needs)."""

    def __init__(self, package, name):
        rt = package._rt
        handle = ctypes.c_void_p()
        rt.check(rt.attention_create(package._handle, name.encode(), ctypes.byref(handle)),
                 "skv_attention_create(%s)" % name)
        self._rt, self._handle, self._destroy = rt, handle.value, rt.attention_destroy
        info = SpecInfo()
        rt.attention_info(self._handle, ctypes.byref(info))
        self.spec = Spec(info)

    def num_splits(self, batch, max_seqlen, num_splits=0):
        n = ctypes.c_int()
        self._rt.check(self._rt.attention_num_splits(self._handle, batch, max_seqlen, num_splits,
                                                     ctypes.byref(n)),
                       "skv_attention_num_splits")
        return n.value

    def workspace_size(self, batch, max_seqlen, num_splits=0):
        n = ctypes.c_size_t()
        self._rt.check(self._rt.attention_workspace_size(self._handle, batch, max_seqlen,
                                                         num_splits, ctypes.byref(n)),
                       "skv_attention_workspace_size")
        return n.value

    def decode(self, q, k, v, seqlens, *, max_seqlen=None, out=None, lse=None, workspace=None,
               num_splits=0, stream=None, layout=None):
        """Decode attention on a contiguous cache (runtime.h,
        skv_attention_decode). q: [batch, heads, dim] or [batch, q_len,
        heads, dim], contiguous; k, v: [batch, seq, kv_heads, dim] or
        [batch, kv_heads, seq, dim] (layout "bshd" or "bhsd" where the
        shape alone does not say), any strides the runtime takes; seqlens:
        int32 [batch] on the device. max_seqlen defaults to the cache's
        capacity (no host sync: safe under CUDA graph capture). out (like
        q) and the workspace are allocated through PyTorch's caching
        allocator when not given. Returns out."""
        q, k, v, seqlens = _tensor(q), _tensor(k), _tensor(v), _tensor(seqlens)
        order = layout or self._layout_of(k)
        seq_dim, head_index = (1, 2) if order == "bshd" else (2, 1)
        a = DecodeArgs()
        a.k, a.v = k.data_ptr(), v.data_ptr()
        a.k_stride_batch, a.k_stride_seq, a.k_stride_head = _strides(k, seq_dim, head_index)
        a.v_stride_batch, a.v_stride_seq, a.v_stride_head = _strides(v, seq_dim, head_index)
        return self._call(self._rt.attention_decode, "skv_attention_decode", a, q, (k, v),
                          k.shape[head_index], seqlens,
                          k.shape[seq_dim] if max_seqlen is None else max_seqlen, out, lse,
                          workspace, num_splits, stream)

    def decode_paged(self, q, k_pages, v_pages, seqlens, *, max_seqlen, block_table=None,
                     page_indptr=None, page_indices=None, out=None, lse=None, workspace=None,
                     num_splits=0, stream=None, layout="nhd"):
        """Decode attention on a paged cache (runtime.h,
        skv_attention_decode_paged): pools [num_pages, page_size, kv_heads,
        dim] (layout "nhd") or [num_pages, kv_heads, page_size, dim]
        ("hnd"), any strides (K and V may be views of one [num_pages, 2,
        ...] allocation); the table as a padded block_table int32 [batch,
        row] or CSR page_indptr int32 [batch + 1] with page_indices. q, out,
        seqlens, workspace as decode. Returns out."""
        q, k_pages, v_pages, seqlens = _tensor(q), _tensor(k_pages), _tensor(v_pages), \
            _tensor(seqlens)
        block_table, page_indptr, page_indices = \
            _tensor(block_table), _tensor(page_indptr), _tensor(page_indices)
        slot_dim, head_index = (1, 2) if layout == "nhd" else (2, 1)
        a = PagedDecodeArgs()
        a.k_pages, a.v_pages = k_pages.data_ptr(), v_pages.data_ptr()
        a.k_stride_page, a.k_stride_slot, a.k_stride_head = \
            _strides(k_pages, slot_dim, head_index)
        a.v_stride_page, a.v_stride_slot, a.v_stride_head = \
            _strides(v_pages, slot_dim, head_index)
        if block_table is not None:
            a.block_table, a.block_table_stride = block_table.data_ptr(), block_table.stride(0)
        if page_indptr is not None:
            a.page_indptr = page_indptr.data_ptr()
        if page_indices is not None:
            a.page_indices = page_indices.data_ptr()
        a.num_pages = k_pages.shape[0]
        return self._call(self._rt.attention_decode_paged, "skv_attention_decode_paged", a, q,
                          (k_pages, v_pages), k_pages.shape[head_index], seqlens, max_seqlen,
                          out, lse, workspace, num_splits, stream)

    def _call(self, fn, what, a, q, kv, num_kv_heads, seqlens, max_seqlen, out, lse, workspace,
              num_splits, stream):
        """The fields both calls share, the checks the runtime cannot make
        on tensors (dtypes, contiguity), the allocations, the call."""
        spec = self.spec
        out, lse, workspace = _tensor(out), _tensor(lse), _tensor(workspace)
        dtypes = [_dtype_of(t) for t in (q,) + tuple(kv)]
        if any(d != spec.dtype for d in dtypes):
            raise SkvError("spec %s takes %s q, k and v; got %s"
                           % (spec.name, spec.dtype, ", ".join(dtypes)))
        if _dtype_of(seqlens) != "int32":
            raise SkvError("seqlens must be int32, not %s" % _dtype_of(seqlens))
        batch = q.shape[0]
        if out is None:
            out = _torch().empty_like(q, memory_format=_torch().contiguous_format)
        if not q.is_contiguous() or not out.is_contiguous():
            raise SkvError("q and out must be contiguous")
        if workspace is None:
            size = self.workspace_size(batch, max_seqlen, num_splits)
            workspace = _torch().empty(max(size, 1), dtype=_torch().uint8, device=q.device)
        if stream is None:
            stream = _torch().cuda.current_stream(q.device).cuda_stream
        a.q, a.seqlens, a.out = q.data_ptr(), seqlens.data_ptr(), out.data_ptr()
        a.lse = lse.data_ptr() if lse is not None else None
        a.workspace, a.workspace_size = workspace.data_ptr(), workspace.numel()
        a.batch, a.max_seqlen, a.num_splits = batch, max_seqlen, num_splits
        a.num_q_heads, a.num_kv_heads, a.head_dim = q.shape[-2], num_kv_heads, q.shape[-1]
        a.q_len = q.shape[1] if q.dim() == 4 else 0
        self._rt.check(fn(self._handle, ctypes.byref(a), stream), "%s(%s)" % (what, spec.name))
        return out

    def _layout_of(self, k):
        kv = self.spec.num_kv_heads
        if k.dim() != 4:
            raise SkvError("k must be 4-D, [batch, seq, kv_heads, dim] or "
                           "[batch, kv_heads, seq, dim]; got shape %s" % (tuple(k.shape),))
        if k.shape[2] == kv and k.shape[1] != kv:
            return "bshd"
        if k.shape[1] == kv and k.shape[2] != kv:
            return "bhsd"
        raise SkvError("k of shape %s: say layout='bshd' or 'bhsd'" % (tuple(k.shape),))
