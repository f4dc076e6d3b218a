"""GPU test of the Python package and its PyTorch op (python/splitkv):
torch.ops.splitkv.decode in eager mode, captured in a CUDA graph and
replayed with new lengths, and under torch.compile(fullgraph=True), each
against a float64 reference of the same inputs (relative L2 within the
dtype's bound, every element finite; out poisoned with NaN first); and
several query tokens (llama3_8b_spec4, q_len 4) through the same op.

    test_torch_op.py RUNTIME_LIB PACKAGE_DIR

Exit 77 (skipped) without torch or a GPU, a failure under SKV_REQUIRE_GPU=1.
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))
os.environ["SPLITKV_RUNTIME"] = sys.argv[1]
packages = sys.argv[2]


def skip(why):
    if os.environ.get("SKV_REQUIRE_GPU") == "1":
        print("FAIL: SKV_REQUIRE_GPU=1, and this cannot run: %s" % why)
        sys.exit(1)
    print("SKIPPED: %s" % why)
    sys.exit(77)


try:
    import torch
except ImportError:
    skip("no torch")
if not torch.cuda.is_available():
    skip("no CUDA device")

import splitkv  # noqa: E402
from splitkv import torch_ops  # noqa: E402

failures = []


def reference(q, k, v, lens, scale):
    """float64 [b, q_len, h, d]: token i of a sequence of L keys sees keys
    up to L - q_len + i. k, v: [b, s, kv_heads, d]."""
    B, T, HQ, D = q.shape
    HKV = k.shape[2]
    G = HQ // HKV
    out = torch.zeros(B, T, HQ, D, dtype=torch.float64, device=q.device)
    for b in range(B):
        L = int(lens[b])
        kb, vb = k[b, :L].double(), v[b, :L].double()  # [L, HKV, D]
        for i in range(T):
            last = L - T + i
            if last < 0:
                continue
            for h in range(HQ):
                s = (kb[:last + 1, h // G] @ q[b, i, h].double()) * scale
                out[b, i, h] = torch.softmax(s, 0) @ vb[:last + 1, h // G]
    return out


def check(name, out, ref, bound=1e-2):
    got = out.double().reshape(ref.shape)
    finite = bool(torch.isfinite(got).all())
    err = ((got - ref).norm() / ref.norm()).item() if finite else math.inf
    ok = finite and err <= bound
    print("%s: %s: rel L2 %.2e" % ("ok" if ok else "FAIL", name, err))
    if not ok:
        failures.append(name)


torch.manual_seed(7)
dev = torch.device("cuda")
pkg = splitkv.Package(os.path.join(packages, "llama3_8b.skvpkg"))
att = pkg.attention("llama3_8b")
key = torch_ops.register(att)
B, S, HQ, HKV, D = 2, 1031, 32, 8, 128
q = torch.randn(B, HQ, D, device=dev, dtype=torch.bfloat16)
k = torch.randn(B, S, HKV, D, device=dev, dtype=torch.bfloat16)
v = torch.randn(B, S, HKV, D, device=dev, dtype=torch.bfloat16)
lens = torch.tensor([1000, 517], dtype=torch.int32, device=dev)
scale = att.spec.softmax_scale

out = torch_ops.decode(key, q, k, v, lens)
check("eager", out, reference(q.view(B, 1, HQ, D), k, v, lens, scale))

# A CUDA graph: out and workspace allocated first, the lengths changed on
# the device between replays.
out = torch.full_like(q, float("nan"))
ws = torch_ops.workspace_for(key, B, S, dev)
torch.cuda.synchronize()
graph = torch.cuda.CUDAGraph()
with torch.cuda.graph(graph):
    torch.ops.splitkv.decode(key, q, k, v, lens, out, ws, S, 0)
for new in ([1031, 3], [17, 900]):
    lens.copy_(torch.tensor(new, dtype=torch.int32))
    out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    check("graph replay, lengths %s" % new, out, reference(q.view(B, 1, HQ, D), k, v, lens, scale))


@torch.compile(fullgraph=True)
def step(q, k, v, lens, out, ws):
    torch.ops.splitkv.decode(key, q, k, v, lens, out, ws, S, 0)
    return out * 1.0


out.fill_(float("nan"))
check("torch.compile(fullgraph=True)", step(q, k, v, lens, out, ws),
      reference(q.view(B, 1, HQ, D), k, v, lens, scale))

spec = splitkv.Package(os.path.join(packages, "speculative.skvpkg")).attention(
    "llama3_8b_spec4")
key4 = torch_ops.register(spec)
q4 = torch.randn(B, 4, HQ, D, device=dev, dtype=torch.bfloat16)
lens.copy_(torch.tensor([1000, 2], dtype=torch.int32))  # sequence 1: tokens 0, 1 see no key
check("q_len 4 (speculative)", torch_ops.decode(key4, q4, k, v, lens),
      reference(q4, k, v, lens, spec.spec.softmax_scale))

try:
    torch_ops.decode(key, q.float(), k, v, lens)
    failures.append("f32 q accepted")
except splitkv.SkvError as e:
    print("ok: f32 q refused: %s" % e)

print("test_torch_op: %s" % ("FAIL" if failures else "OK"))
sys.exit(1 if failures else 0)
