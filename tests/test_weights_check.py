"""graphc check FILE --weights W.safetensors: the file's tensors (read from its header, without
torch) against the state_dict torch builds for the model; each mistake at the owning layer's line."""

import json
import struct
import subprocess
import sys

import pytest
from conftest import MODELS, run_graphc

torch = pytest.importorskip("torch")

from graphc.api import compile  # noqa: E402
from graphc.weights import expected, read_header  # noqa: E402

NAMES = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64"}


def write_safetensors(path, tensors: dict):
    """The safetensors format: an 8-byte header length, a JSON header, the raw bytes."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


@pytest.mark.parametrize("stem", ["resnet18", "gpt", "lstm_classifier", "transformer_classifier", "unet"])
def test_the_models_own_state_dict_matches(stem, tmp_path):
    """What graphc expects is exactly the state_dict torch builds (names, shapes, dtypes)."""
    comp = compile(MODELS / f"{stem}.model")
    state = comp.to_module().state_dict()
    keys, opaque = expected(comp.program)
    described = {k: v for k, v in state.items() if not any(k.startswith(p) for p in opaque)}
    assert set(keys) == set(described)
    for k, (shape, rank, dtype, _) in keys.items():
        t = state[k]
        assert (shape is None or tuple(shape) == tuple(t.shape)) and rank == t.dim(), k
        assert dtype == str(t.dtype).replace("torch.", ""), k
    f = tmp_path / "w.safetensors"
    write_safetensors(f, state)
    assert set(read_header(str(f))) == set(state)
    proc = run_graphc("check", MODELS / f"{stem}.model", "--weights", f)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_each_mismatch_is_at_the_layer_that_owns_the_tensor(tmp_path):
    comp = compile(MODELS / "lenet.model")
    state = comp.to_module().state_dict()
    state["fc3.weight"] = torch.zeros(12, 84)       # another shape
    del state["conv2.bias"]                         # missing
    state["fc4.weight"] = torch.zeros(3)            # unexpected
    state["fc1.bias"] = state["fc1.bias"].half()    # another dtype: a note
    f = tmp_path / "w.safetensors"
    write_safetensors(f, state)
    proc = run_graphc("check", MODELS / "lenet.model", "--weights", f)
    assert proc.returncode == 1
    out = proc.stdout
    lines = (MODELS / "lenet.model").read_text().splitlines()
    line_of = {name: i + 1 for i, t in enumerate(lines) for name in ("conv2", "fc3") if f"{name}:" in t}
    assert f"lenet.model:{line_of['fc3']}:" in out and "'fc3.weight' is (12, 84)" in out and "(10, 84)" in out
    assert f"lenet.model:{line_of['conv2']}:" in out and "has no tensor 'conv2.bias'" in out
    assert "a tensor 'fc4.weight' that the model has no place for" in out
    assert "'fc1.bias' is float16" in out and "note" in out
    # torch agrees: the same file does not load strictly into the generated module
    m = comp.to_module()
    with pytest.raises(RuntimeError):
        m.load_state_dict(state, strict=True)


def test_check_with_weights_never_imports_torch(tmp_path):
    comp = compile(MODELS / "digits.model")
    f = tmp_path / "w.safetensors"
    write_safetensors(f, comp.to_module().state_dict())
    code = ("import sys; from graphc.cli import main; "
            f"rc = main(['check', {str(MODELS / 'digits.model')!r}, '--weights', {str(f)!r}]); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules; print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "ok" in run.stdout, run.stdout + run.stderr


def test_a_file_that_is_not_safetensors_is_one_line(tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00nope!")
    proc = run_graphc("check", MODELS / "digits.model", "--weights", f)
    assert proc.returncode == 2 and "is not a safetensors file (its header is not JSON)" in proc.stderr
