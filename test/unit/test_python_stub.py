"""The Python package's decode calls (python/splitkv) through the stub CUDA
driver of test/unit/stub_cuda.c, which the test puts first on
LD_LIBRARY_PATH: the real runtime checks every argument Python passes and
launches into the stub, which records each launch's grid. The tensors are
stand-ins with PyTorch's protocol (shape, stride(), data_ptr(), dtype), so
no torch and no GPU are needed.

    test_python_stub.py RUNTIME_LIB PACKAGE_DIR STUB_DIR
"""
import ctypes
import importlib.util
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))
os.environ["SPLITKV_RUNTIME"] = sys.argv[1]
import splitkv  # noqa: E402

packages, stub_dir = sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)


class T(splitkv._ArrayInterface):
    """A device tensor stand-in with torch's protocol (the package's array
    view's methods, a torch dtype name): shape, element strides
    (contiguous unless given), an address."""

    def __init__(self, shape, dtype, addr, strides=None):
        self.shape, self.dtype, self._ptr = tuple(shape), "torch." + dtype, addr
        self._contiguous = splitkv.contiguous_strides(self.shape)
        self._strides = tuple(strides) if strides else self._contiguous


# The runtime opened libcuda.so.1 from LD_LIBRARY_PATH: the same library.
stub = ctypes.CDLL(os.path.join(stub_dir, "libcuda.so.1"))
stub.skv_stub_last_launch.restype = ctypes.c_char_p
stub.skv_stub_launches.restype = ctypes.c_int


def last_launch():
    grid = (ctypes.c_uint * 3)()
    name = stub.skv_stub_last_launch(grid).decode()
    return name, tuple(grid)


def decode(att, q, k, seqlens, **kw):
    ws = T((att.workspace_size(q.shape[0], kw.get("max_seqlen", 4096)) + 16,), "uint8",
           0x40000000)
    out = T(q.shape, q.dtype.replace("torch.", ""), 0x30000000)
    return att.decode(q, k, k, seqlens, out=out, workspace=ws, stream=0, **kw)


seqlens = T((2,), "int32", 0x20000000)
llama = splitkv.Package(os.path.join(packages, "llama3_8b.skvpkg")).attention("llama3_8b")
q = T((2, 32, 128), "bfloat16", 0x10000000)
cache = T((2, 4096, 8, 128), "bfloat16", 0x50000000)
before = stub.skv_stub_launches()
decode(llama, q, cache, seqlens, num_splits=1)
name, grid = last_launch()
check(stub.skv_stub_launches() == before + 1 and name.startswith("llama3_8b_split") and
      grid == (1, 8, 2),
      "llama3_8b, one split: one launch (narrow or wide), grid (1, 8 kv heads, batch 2): "
      "%s %s" % (name, grid))
decode(llama, q, T((2, 8, 4096, 128), "bfloat16", 0x50000000), seqlens, num_splits=7)
name, grid = last_launch()
check(name == "llama3_8b_combine" and grid[0] % 32 == 0 and grid[1:] == (2, 1),
      "[b, h, s, d] cache, 7 splits: the combine kernel last, grid (32 heads x its CTAs a "
      "row, batch 2 x q_len 1): %s %s" % (name, grid))

spec8 = splitkv.Package(os.path.join(packages, "speculative.skvpkg")).attention(
    "llama3_70b_spec8")
for q_len, tiles in ((1, 1), (3, 2), (8, 4)):
    decode(spec8, T((2, q_len, 64, 128), "bfloat16", 0x10000000), cache, seqlens,
           num_splits=1)
    check(last_launch() == ("llama3_70b_spec8_split", (1, 8 * tiles, 2)),
          "q_len %d: %d head tiles a kv head: %s %s" % ((q_len, tiles) + last_launch()))


def refused(what, fn, text):
    try:
        fn()
        check(False, "%s: refused" % what)
    except splitkv.SkvError as e:
        check(text in str(e), "%s: %s" % (what, e))


refused("q not 16-byte aligned",
        lambda: decode(llama, T((2, 32, 128), "bfloat16", 0x10000008), cache, seqlens),
        "q (0x10000008) is not 16-byte aligned")
refused("f16 q on a bf16 spec",
        lambda: decode(llama, T((2, 32, 128), "float16", 0x10000000), cache, seqlens),
        "takes bf16 q, k and v")
refused("int64 seqlens",
        lambda: decode(llama, q, cache, T((2,), "int64", 0x20000000)), "must be int32")
refused("q_len 9 on a spec of 8",
        lambda: decode(spec8, T((2, 9, 64, 128), "bfloat16", 0x10000000), cache, seqlens),
        "q_len is 9, must be in [1, 8]")
refused("a cache whose layout the shape leaves open",
        lambda: decode(llama, q, T((2, 8, 8, 128), "bfloat16", 0x50000000), seqlens),
        "say layout=")

paged = splitkv.Package(os.path.join(packages, "paged_llama3_8b.skvpkg")).attention(
    "llama3_8b_p16")
pool = T((600, 16, 8, 128), "bfloat16", 0x50000000)
ws = T((paged.workspace_size(2, 4096) + 16,), "uint8", 0x40000000)
out = T((2, 32, 128), "bfloat16", 0x30000000)
paged.decode_paged(q, pool, pool, seqlens, max_seqlen=4096, out=out, workspace=ws, stream=0,
                   block_table=T((2, 300), "int32", 0x60000000), num_splits=1)
name, grid = last_launch()
check(name.startswith("llama3_8b_p16_split") and grid == (1, 8, 2),
      "paged, block table: %s %s" % (name, grid))
paged.decode_paged(q, T((600, 8, 16, 128), "bfloat16", 0x50000000),
                   T((600, 8, 16, 128), "bfloat16", 0x50000000), seqlens, max_seqlen=4096,
                   out=out, workspace=ws, stream=0, page_indptr=T((3,), "int32", 0x60000000),
                   page_indices=T((512,), "int32", 0x70000000), layout="hnd", num_splits=1)
name, grid = last_launch()
check(name.startswith("llama3_8b_p16_split") and grid == (1, 8, 2),
      "paged, CSR, HND pools: %s %s" % (name, grid))
refused("a block table too short for max_seqlen",
        lambda: paged.decode_paged(q, pool, pool, seqlens, max_seqlen=4096, out=out,
                                   workspace=ws, stream=0,
                                   block_table=T((2, 100), "int32", 0x60000000)),
        "block_table_stride is 100")

class A:
    """An array that offers only __cuda_array_interface__ (as CuPy does)."""

    def __init__(self, shape, typestr, addr, strides=None):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr,
                                         "data": (addr, False), "strides": strides,
                                         "version": 3}


ws_bytes = spec8.workspace_size(2, 4096)
spec8.decode(A((2, 3, 64, 128), "<V2", 0x10000000), A((2, 8, 4096, 128), "<V2", 0x50000000),
             A((2, 8, 4096, 128), "<V2", 0x50000000), A((2,), "<i4", 0x20000000),
             out=A((2, 3, 64, 128), "<V2", 0x30000000),
             workspace=A((ws_bytes,), "|u1", 0x40000000), stream=0, num_splits=1)
check(last_launch() == ("llama3_70b_spec8_split", (1, 16, 2)),
      "__cuda_array_interface__ arrays ([b, h, s, d] cache), q_len 3: %s %s" % last_launch())
refused("f32 arrays",
        lambda: spec8.decode(A((2, 3, 64, 128), "<f4", 0x10000000), cache, cache, seqlens,
                             out=out, workspace=ws, stream=0),
        "arrays of type <f4 are not taken")
if importlib.util.find_spec("torch") is None:  # what it says when it would need torch
    refused("no torch to allocate out",
            lambda: spec8.decode(A((2, 3, 64, 128), "<V2", 0x10000000), cache, cache, seqlens,
                                 workspace=ws, stream=0),
            "without torch, pass out, workspace and stream")

print("test_python_stub: %s" % ("FAIL" if failures else "OK"))
sys.exit(1 if failures else 0)
