"""``graphc check FILE --weights W.safetensors``: does a weights file fit the model, without
torch?  A ``.safetensors`` file is an 8-byte little-endian length and a JSON header giving each
tensor's dtype and shape; graphc's node ids are the generated module's attribute paths, so the
tensors the model expects (each module's own parameters and buffers, each learned tensor, under
their ``state_dict`` keys) are compared with the file's by name, shape and dtype.

Each mistake is a diagnostic at the line of the layer that owns the tensor: a tensor the file
lacks, one of another shape, one the model has no place for (with a did-you-mean).  A dtype that
differs is a note (``load_state_dict`` copies across dtypes).  The tensors of a module graphc
does not describe one by one (attention's ``out_proj``, a Transformer layer's ``linear1``) are
matched by their prefix only, and said so.
"""

from __future__ import annotations

import json
import struct

from graphc.errors import Diagnostic, diag, did_you_mean
from graphc.graph import Program

#: safetensors' dtype names -> graphc's
DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
          "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
MAX_HEADER = 100 << 20  # safetensors' own limit on the header


class WeightsError(Exception):
    """A weights file that cannot be read: the message says why."""


def read_header(path: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) of every tensor of a .safetensors file, from its header only."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise WeightsError(f"{path} is not a safetensors file (shorter than 8 bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER and (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # zip, pickle
                raise WeightsError(
                    f"{path} is a zip or pickle file (as torch.save writes), not a safetensors file: graphc reads only a "
                    ".safetensors header without torch. A .pt/.pth state_dict is checked when the training "
                    "script starts (pretrained = weights(...)); to check it here, save it with "
                    "safetensors.torch.save_file (or save_model) and pass the .safetensors file")
            if n > MAX_HEADER:
                raise WeightsError(f"{path} is not a safetensors file (a header of {n:,} bytes)")
            raw = f.read(n)
    except OSError as e:
        raise WeightsError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise WeightsError(f"{path} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path} is not a safetensors file (its header is not an object)")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            out[name] = (DTYPES.get(info["dtype"], str(info["dtype"]).lower()), tuple(int(d) for d in info["shape"]))
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{path}: tensor {name!r} has no dtype and shape in the header") from None
    return out


def expected(prog: Program) -> tuple[dict[str, tuple], list[str]]:
    """(key -> (shape or None, rank, dtype, node) of every tensor the model's state_dict holds,
    the key prefixes of modules whose tensors are matched by prefix only)."""
    from graphc.layers.learned import PARAM_KIND

    keys: dict[str, tuple] = {}
    opaque: list[str] = []
    for n in prog.nodes.values():
        if n.shares is not None or n.ctor is None and n.kind != PARAM_KIND:
            continue
        if n.kind == PARAM_KIND:
            t = n.outs[0] if n.outs else None
            if t is not None:
                keys[n.id] = (tuple(t.shape), len(t.shape), t.dtype, n)
            continue
        if not n.has_module:
            continue
        if n.layer.opaque_state:
            opaque.append(n.id + ".")
        for name, rank in n.layer.own_weights(n.ctor).items():
            keys[f"{n.id}.{name}"] = (n.layer.weight_shape(n.ctor, name), rank, "float32", n)
        for name, b in n.layer.own_buffers(n.ctor).items():
            keys[f"{n.id}.{name}"] = (tuple(b.shape(n.ctor)), len(b.shape(n.ctor)), b.dtype, n)
    return keys, opaque


def tied(prog: Program) -> list[tuple[list[str], object]]:
    """The state_dict keys that name one tensor (``tie a.weight = b.weight``), in groups, each
    with the span of its first tie: torch's state_dict lists each name, safetensors'
    ``save_model`` keeps one of them."""
    groups: dict[str, tuple[list[str], object]] = {}
    for scope in prog.scopes():
        for st, ln, lp, rn, rp in scope.ties:
            left, right = f"{ln.id}.{lp}", f"{rn.id}.{rp}"
            keys, _ = groups.setdefault(right, ([right], st.span))
            if left not in keys:
                keys.append(left)
    return list(groups.values())


def same_data(path: str, names: list[str]) -> bool | None:
    """Whether the tensors ``names`` of the .safetensors file have one dtype, shape and the same
    bytes (read in chunks); None when the file cannot be read so."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            infos = [header[k] for k in names]
            if any(i["dtype"] != infos[0]["dtype"] for i in infos):
                return None  # the values may still agree once converted: the script compares them
            if any(i["shape"] != infos[0]["shape"] for i in infos):
                return False
            spans = [tuple(int(x) for x in i["data_offsets"]) for i in infos]
            size = spans[0][1] - spans[0][0]
            if any(e - b != size for b, e in spans):
                return False
            done, chunk = 0, 1 << 20
            while done < size:
                step = min(chunk, size - done)
                blobs = []
                for b, _ in spans:
                    f.seek(8 + n + b + done)
                    blobs.append(f.read(step))
                if any(x != blobs[0] for x in blobs):
                    return False
                done += step
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    return True


def check_weights(prog: Program, path: str) -> list[Diagnostic]:
    """The diagnostics of comparing the weights file ``path`` with the model (raises WeightsError
    when the file cannot be read)."""
    return compare(prog, read_header(path), path)


def compare(prog: Program, found: dict, path: str, strict: bool = True, origin: dict | None = None,
            at=None) -> list[Diagnostic]:
    """The diagnostics of the tensors ``found`` (name -> (dtype, shape)) against the model.
    ``strict=False`` (a partial load, ``pretrained = weights(..., strict=false)``): what does
    not fit is a warning, as the training script loads the rest and reports it.  ``origin``:
    the file's name of each renamed key; ``at``: where a tensor without a place is reported
    (the model's name by default)."""
    origin = origin or {}
    code = "weights-mismatch" if strict else "weights-partial"

    def named(key):
        return f"'{key}' (renamed from '{origin[key]}')" if key in origin else f"'{key}'"

    want, opaque = expected(prog)
    found = dict(found)
    out: list[Diagnostic] = []
    for group, tie_span in tied(prog):  # one tensor under two names: either name in the file loads both
        present = [k for k in group if k in found]
        for k in group:
            if present and k not in found:
                found[k] = found[present[0]]
        if len(present) > 1 and same_data(path, [origin.get(k, k) for k in present]) is False:
            out.append(diag(tie_span, "weights-mismatch",
                            f"{path} gives {named(present[0])} and {named(present[1])} different values, but "
                            "the model ties them: one tensor", "keep one of the two in the file (the other "
                            "loads with it), or drop the tie"))

    for key, (shape, rank, dtype, node) in want.items():
        at_node = node.call.span if node.call is not None else node.span
        if key not in found:
            hint = did_you_mean(key, [k for k in found if k not in want])
            out.append(diag(at_node, code, f"{path} has no tensor '{key}' ({node.kind} '{node.id}')"
                                           + ("" if strict else ": it keeps its initial values"),
                            hint or ("a partial file loads with strict=false; name the layer as the file "
                                     "does, or rename the file's keys" if strict else None)))
            continue
        fdtype, fshape = found[key]
        if (shape is not None and tuple(shape) != fshape) or (shape is None and len(fshape) != rank):
            want_text = str(tuple(shape)) if shape is not None else f"{rank} dims"
            out.append(diag(at_node, code,
                            f"{named(key)} is {fshape} in {path}, but {node.kind} '{node.id}' has {want_text}"
                            + ("" if strict else ": it is not loaded"),
                            "the layer's arguments (sizes, bias=) must be those the weights were trained with"
                            if strict else None))
        elif fdtype != dtype:
            out.append(diag(at_node, "weights-dtype", f"{named(key)} is {fdtype} in {path}; the model's is "
                                                      f"{dtype} (load_state_dict converts it)"))
    model_span = at if at is not None else prog.root.definition.name.span
    for key in found:
        if key in want or any(key.startswith(p) for p in opaque):
            continue
        hint = did_you_mean(key, [k for k in want if k not in found])
        out.append(diag(model_span, code, f"{path} has a tensor {named(key)} that the model has no place for"
                                          + ("" if strict else ": it is left out"),
                        hint or ("load with strict=false to leave it out, or rename it" if strict else None)))
    if opaque:
        out.append(diag(model_span, "weights-unchecked",
                        f"the tensors under {', '.join(p.rstrip('.') for p in opaque[:4])}"
                        f"{' ...' if len(opaque) > 4 else ''} are matched by name prefix only"))
    return out


__all__ = ["check_weights", "compare", "expected", "read_header", "WeightsError"]
