"""splitkv as a PyTorch custom op: torch.ops.splitkv.decode, registered
with torch.library (a fake implementation included), so a decode step runs
in eager mode, inside CUDA graph capture (no host sync; no allocation when
out and workspace are given) and under torch.compile without a graph break.

    from splitkv import torch_ops
    key = torch_ops.register(pkg.attention("llama3_8b"))
    torch.ops.splitkv.decode(key, q, k, v, seqlens, out, workspace, max_seqlen, 0)
    out = torch_ops.decode(key, q, k, v, seqlens)   # allocates out, workspace

An attention is not a tensor: ops take the integer key register() gives
it, and the attention lives until unregister().
"""

import torch

_ATTENTIONS = {}


def register(attention):
    """A key for attention in the ops' calls; the registry keeps it alive."""
    key = len(_ATTENTIONS) + 1
    while key in _ATTENTIONS:
        key += 1
    _ATTENTIONS[key] = attention
    return key


def unregister(key):
    _ATTENTIONS.pop(key, None)


@torch.library.custom_op("splitkv::decode", mutates_args=("out", "workspace"))
def _decode(key: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            seqlens: torch.Tensor, out: torch.Tensor, workspace: torch.Tensor,
            max_seqlen: int, num_splits: int) -> None:
    _ATTENTIONS[key].decode(q, k, v, seqlens, max_seqlen=max_seqlen, out=out,
                            workspace=workspace, num_splits=num_splits)


@_decode.register_fake
def _decode_fake(key, q, k, v, seqlens, out, workspace, max_seqlen, num_splits):
    return None


def workspace_for(key, batch, max_seqlen, device, num_splits=0):
    """A workspace for calls of these sizes, from PyTorch's caching
    allocator (allocate it once, outside graph capture)."""
    size = _ATTENTIONS[key].workspace_size(batch, max_seqlen, num_splits)
    return torch.empty(max(size, 1), dtype=torch.uint8, device=device)


def decode(key, q, k, v, seqlens, *, max_seqlen=None, out=None, workspace=None, num_splits=0,
           layout=None):
    """torch.ops.splitkv.decode with out and workspace allocated where not
    given; max_seqlen defaults to the cache's capacity. Returns out."""
    attention = _ATTENTIONS[key]
    if max_seqlen is None:
        order = layout or attention._layout_of(k)
        max_seqlen = k.shape[1] if order == "bshd" else k.shape[2]
    if out is None:
        out = torch.empty_like(q, memory_format=torch.contiguous_format)
    if workspace is None:
        workspace = workspace_for(key, q.shape[0], max_seqlen, q.device, num_splits)
    torch.ops.splitkv.decode(key, q, k, v, seqlens, out, workspace, max_seqlen, num_splits)
    return out
