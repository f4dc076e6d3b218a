"""The Python package (python/splitkv) without a GPU: packages open from a
file and from bytes, specs read back as the package records them, a damaged
package is refused with the runtime's message, loading an attention without
a driver raises SkvError (not a crash), and the ctypes mirror matches
runtime.h.

    test_python_package.py RUNTIME_LIB PACKAGE_DIR
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))
os.environ["SPLITKV_RUNTIME"] = sys.argv[1]
import splitkv  # noqa: E402

packages = sys.argv[2]
failures = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)


problems, said = splitkv.abi_check()
check(not problems, "ctypes mirror: %s" % (problems or said))

path = os.path.join(packages, "speculative.skvpkg")
specs = {s.name: s for s in splitkv.Package(path).specs}
s = specs.get("llama3_70b_spec8")
check(s is not None and (s.head_dim, s.num_q_heads, s.num_kv_heads, s.dtype, s.max_query_len,
                         s.kv_layout) == (128, 64, 8, "bf16", 8, "contiguous"),
      "spec record read back: %r" % (s,))

data = open(os.path.join(packages, "llama3_8b.skvpkg"), "rb").read()
check([s.name for s in splitkv.Package(data).specs] == ["llama3_8b"], "a package from bytes")

damaged = bytearray(data)
damaged[len(damaged) // 2] ^= 0x10
try:
    splitkv.Package(bytes(damaged))
    check(False, "a damaged package is refused")
except splitkv.SkvError as e:
    check("CORRUPT_PACKAGE" in str(e), "a damaged package is refused: %s" % e)

try:
    splitkv.Package(os.path.join(packages, "no_such.skvpkg"))
    check(False, "a missing file is refused")
except splitkv.SkvError as e:
    check("IO_ERROR" in str(e), "a missing file is refused: %s" % e)

try:
    att = splitkv.Package(data).attention("llama3_8b")
    check(att.spec.name == "llama3_8b" and att.workspace_size(8, 8192) > 0,
          "attention loaded (a GPU is here)")
except splitkv.SkvError as e:
    check("NO_DRIVER" in str(e), "no GPU: %s" % e)

try:
    splitkv.Package(data).attention("not_a_spec")
    check(False, "an unknown spec is refused")
except splitkv.SkvError as e:
    check("NOT_FOUND" in str(e) or "NO_DRIVER" in str(e), "an unknown spec: %s" % e)

print("test_python_package: %s" % ("FAIL" if failures else "OK"))
sys.exit(1 if failures else 0)
