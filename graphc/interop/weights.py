"""The weights ``graphc export --checkpoint`` loads: a plain ``state_dict`` (``.pt``), a
checkpoint the generated training script wrote (its ``"model"`` entry), or a ``.safetensors``
file (with the safetensors package).  A file of another model's weights is one clear line."""

from __future__ import annotations

from pathlib import Path


class WeightsError(Exception):
    """The weights could not be read or are not this model's; the message says why."""


def read_state(path: str):
    """(state_dict, what it was: "state_dict", "checkpoint (epoch N)" or "safetensors")."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"cannot read the checkpoint {path}: " +
                           ("it is a directory" if p.is_dir() else "no such file"))
    if p.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise WeightsError(f"reading {path} needs the safetensors package: "
                               "pip install safetensors") from None
        try:
            return load_file(str(p)), "safetensors"
        except Exception as e:  # noqa: BLE001 - a corrupt or foreign file: any error, one line
            raise WeightsError(f"cannot read {path} as safetensors: {_one_line(e)}") from None
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise WeightsError(f"cannot load {path}: {type(e).__name__}: {_one_line(e)}") from None
    what = "state_dict"
    if isinstance(obj, dict) and obj.get("model") is None and isinstance(obj.get("shards"), str):
        return _read_shards(p, obj), "sharded checkpoint (--strategy fsdp)"
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):  # the training script's
        epoch = obj.get("epoch")
        what = f"checkpoint (epoch {epoch})" if isinstance(epoch, int) else "checkpoint"
        obj = obj["model"]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):  # Lightning and others
        what = "checkpoint"
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds no state_dict: expected a dict of tensors, a checkpoint with a "
                           "'model' entry (as the generated training script writes) or a .safetensors file")
    return obj, what


def _read_shards(path: Path, ckpt: dict) -> dict:
    """The whole weights of a --strategy fsdp checkpoint, from the shards directory beside it."""
    import tempfile
    import warnings

    import torch
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    folder = path.parent / ckpt["shards"]
    if not (folder / ".metadata").is_file():
        raise WeightsError(f"{path} is a sharded checkpoint, but its shards, {folder}, are missing or incomplete")
    with tempfile.TemporaryDirectory(prefix="graphc-shards-") as tmp:
        whole = Path(tmp) / "whole.pt"
        try:
            with warnings.catch_warnings():  # one process reading shards is the intent
                warnings.filterwarnings("ignore", message="torch.distributed is disabled")
                dcp_to_torch_save(str(folder), str(whole))
            state = torch.load(str(whole), map_location="cpu", weights_only=True)["model"]
        except Exception as e:  # noqa: BLE001 - a damaged shards directory: any error, one line
            raise WeightsError(f"cannot read the shards in {folder}: {type(e).__name__}: {_one_line(e)}") from None
    return state


def _strip_wrappers(state: dict, mine: dict) -> dict:
    """Keys saved from a torch.compile'd or DistributedDataParallel model carry a prefix."""
    for prefix in ("_orig_mod.", "module."):
        if not any(k in mine for k in state) and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _fill_ties(module, state: dict, path: str) -> dict:
    """A tensor the module ties (``tie a.weight = b.weight``) under the one name the file has
    (safetensors' ``save_model`` keeps one) is given its other names; two names of it with
    different values in the file are an error."""
    import torch

    by_tensor: dict[int, list[str]] = {}
    for key, value in module.state_dict(keep_vars=True).items():
        by_tensor.setdefault(id(value), []).append(key)
    state = dict(state)
    for keys in (k for k in by_tensor.values() if len(k) > 1):
        present = [k for k in keys if k in state]
        for k in present[1:]:
            a, b = state[present[0]], state[k]
            if a.shape != b.shape or not torch.equal(a, b.to(a.dtype)):
                raise WeightsError(f"{path}: {present[0]!r} and {k!r} are one tensor in the model (a tie), but "
                                   "the file gives them different values; keep one of the two in the file")
        for k in keys:
            if present and k not in state:
                state[k] = state[present[0]]
    return state


def load_into(module, path: str) -> str:
    """Load the weights in ``path`` into ``module`` (strictly); returns what the file was."""
    state, what = read_state(path)
    mine = module.state_dict()
    state = _fill_ties(module, _strip_wrappers(state, mine), path)
    missing = [k for k in mine if k not in state]
    unexpected = [k for k in state if k not in mine]
    resized = [k for k in mine if k in state and tuple(state[k].shape) != tuple(mine[k].shape)]
    if missing or unexpected or resized:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing, e.g. {missing[0]!r}")
        if unexpected:
            problems.append(f"{len(unexpected)} unknown, e.g. {unexpected[0]!r}")
        if resized:
            k = resized[0]
            problems.append(f"{len(resized)} of another shape, e.g. {k!r} {tuple(state[k].shape)} "
                            f"in the file but {tuple(mine[k].shape)} here")
        raise WeightsError(f"{path} holds another model's weights ({'; '.join(problems)}); the keys are "
                           "the node ids of the .model file: check it is the file the weights were trained from")
    module.load_state_dict(state, strict=True)
    return what


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
