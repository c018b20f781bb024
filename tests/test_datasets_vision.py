"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100: the generated script reads the formats
torchvision keeps on disk (written here byte by byte, never downloaded), decodes them as
torchvision's ``ToTensor`` would, downloads through file:// addresses with the MD5 checked,
and stops in one line when a download cannot happen.  Nothing here touches the network: the
"unreachable" address is a closed port of this machine."""

import gzip
import hashlib
import io
import pickle
import socket
import subprocess
import sys
import tarfile

import pytest
from conftest import build_scripts, import_generated

from graphc.api import compile_source

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

CNN = """model M {{
    input image: [B, {c}, {s}, {s}]
    logits = image -> Flatten -> Linear({classes})
    output logits
    train {{
        data = {data}
        loss = CrossEntropyLoss()
        epochs = 1
        batch_size = 8
    }}
}}
"""


def errors(src):
    return [(d.code, d.span.line, d.message) for d in compile_source(src, "m.model").errors]


def script(tmp_path, data, c=3, s=32, classes=10, name="m"):
    return build_scripts(tmp_path, CNN.format(c=c, s=s, classes=classes, data=data), name)


def generated(tmp_path, data, **kw):
    """The generated training script, imported: its readers and download are the code under test."""
    path = script(tmp_path, data, **kw)
    return import_generated(path, f"gen_{path.stem}_{abs(hash(str(tmp_path)))}")


# ------------------------------------------------------------------ the formats
def cifar_pickle(path, data, **labels):
    """A batch as the CIFAR site ships it: a pickled dict with bytes keys."""
    batch = {b"batch_label": b"test", b"data": data, **{k.encode(): v for k, v in labels.items()}}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def torchvision_decode(data):
    """CIFAR's rows as torchvision turns them into tensors: reshape to (N, 3, 32, 32), transpose
    to HWC images, then ToTensor (HWC -> CHW, / 255), written out with numpy."""
    hwc = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))).float().div(255)


def test_cifar10_batches_decode_as_torchvision_does(tmp_path):
    rng = np.random.default_rng(0)
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    datas, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
        lab = rng.integers(0, 10, size=4).tolist()
        cifar_pickle(base / name, data, labels=lab)
        datas.append(data)
        labels.append(lab)
    mod = generated(tmp_path, f'cifar10(root="{tmp_path}")')
    x, y = mod._read_cifar(str(tmp_path), "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)),
                           "labels", False)
    assert torch.equal(x, torchvision_decode(np.concatenate(datas[:5])))
    assert torch.equal(y, torch.tensor(sum(labels[:5], [])))
    # pixel (red, row 1, column 2) of the first image is byte 0 * 1024 + 1 * 32 + 2 of its row
    assert x[0, 0, 1, 2] == datas[0][0, 34] / 255
    xt, yt, *_ = mod.load_data(0)  # the whole load: 20 training images, 4 of them held out
    assert xt.shape == (16, 3, 32, 32)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    data = np.arange(6 * 3072, dtype=np.int64).astype(np.uint8).reshape(6, 3072)
    for name in ("train", "test"):
        cifar_pickle(base / name, data, fine_labels=[99, 5, 0, 7, 8, 9], coarse_labels=[19, 1, 0, 3, 4, 5])
    mod = generated(tmp_path, f'cifar100(root="{tmp_path}", label_mode="coarse")', classes=20)
    _, y = mod._read_cifar(str(tmp_path), "cifar-100-python", ("test",), "coarse_labels", False)
    assert y.tolist() == [19, 1, 0, 3, 4, 5]
    _, y = mod._read_cifar(str(tmp_path), "cifar-100-python", ("train",), "fine_labels", False)
    assert y.tolist() == [99, 5, 0, 7, 8, 9]


def test_a_pickle_that_calls_a_function_is_refused(tmp_path):
    """A pickle can call any function when it is loaded: a batch may name only NumPy's arrays."""
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (base / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    mod = generated(tmp_path, f'cifar10(root="{tmp_path}", train=false)')
    with pytest.raises(mod.DataError, match="builtins.print has no place in a CIFAR batch"):
        mod._read_cifar(str(tmp_path), "cifar-10-batches-py", ("test_batch",), "labels", False)


def idx_files(raw, n, prefix="train"):
    raw.mkdir(parents=True, exist_ok=True)
    images = bytes((i * 31 + j) % 256 for i in range(n) for j in range(784))
    labels = bytes(i % 10 for i in range(n))
    files = {f"{prefix}-images-idx3-ubyte.gz": b"\0\0\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
             + images, f"{prefix}-labels-idx1-ubyte.gz": b"\0\0\x08\x01" + n.to_bytes(4, "big") + labels}
    out = {}
    for name, body in files.items():
        (raw / name).write_bytes(gzip.compress(body, mtime=0))
        out[name] = hashlib.md5((raw / name).read_bytes()).hexdigest()
    return images, labels, out


def test_fashion_mnist_gzipped_idx_files(tmp_path):
    images, labels, _ = idx_files(tmp_path / "FashionMNIST" / "raw", 5, "t10k")
    mod = generated(tmp_path, f'fashion_mnist(root="{tmp_path}", train=false)', c=1, s=28)
    x, y = mod._read_idx(str(tmp_path), "FashionMNIST", False, False)
    want = torch.frombuffer(bytearray(images), dtype=torch.uint8).reshape(5, 1, 28, 28).float() / 255
    assert torch.equal(x, want) and y.tolist() == list(labels)


# ------------------------------------------------------------------ downloads
def test_download_fetches_what_is_missing_and_checks_the_md5(tmp_path):
    served = tmp_path / "mirror"
    images, labels, md5s = idx_files(served, 3)
    root = tmp_path / "data"
    mod = generated(tmp_path, f'mnist(root="{root}", download=true)', c=1, s=28)
    mod._IDX_FILES["MNIST"] = ((served.as_uri() + "/",), md5s)
    x, y = mod._read_idx(str(root), "MNIST", True, True)
    assert y.tolist() == list(labels) and x.shape == (3, 1, 28, 28)
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").read_bytes() == \
        (served / "train-images-idx3-ubyte.gz").read_bytes()
    assert not list((root / "MNIST" / "raw").glob("*.part"))
    # another checksum: nothing is kept, one line says which file and both sums
    (root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").unlink()
    mod._IDX_FILES["MNIST"] = ((served.as_uri() + "/",), {**md5s, "train-labels-idx1-ubyte.gz": "0" * 32})
    with pytest.raises(mod.DataError) as e:
        mod._read_idx(str(root), "MNIST", True, True)
    assert f"MD5 {md5s['train-labels-idx1-ubyte.gz']}, expected {'0' * 32}" in str(e.value)
    assert "\n" not in str(e.value) and not list((root / "MNIST" / "raw").glob("*labels*"))


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with ends: connections are refused


def test_offline_download_is_one_line_from_the_script(tmp_path):
    root = tmp_path / "data"
    path = script(tmp_path, f'cifar10(root="{root}", download=true)')
    dead = f"http://127.0.0.1:{closed_port()}/cifar-10-python.tar.gz"
    src = path.read_text()
    src = src.replace("'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'", repr(dead))
    assert repr(dead) in src
    path.write_text(src)
    r = subprocess.run([sys.executable, str(path), "--out", str(tmp_path / "run")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"error: cannot download cifar-10-python.tar.gz ({dead}: ")
    assert f"put the file in {root} yourself" in line


def test_cifar_archive_downloaded_extracted_and_read(tmp_path):
    served = tmp_path / "mirror"
    served.mkdir()
    data = np.full((2, 3072), 255, dtype=np.uint8)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("train", "test", "meta"):
            body = pickle.dumps({b"data": data, b"fine_labels": [1, 2], b"coarse_labels": [0, 3]}, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    (served / "cifar-100-python.tar.gz").write_bytes(buf.getvalue())
    root = tmp_path / "data"
    mod = generated(tmp_path, f'cifar100(root="{root}", download=true)', classes=100)
    mod._CIFAR_ARCHIVES["cifar-100-python"] = ((served / "cifar-100-python.tar.gz").as_uri(),
                                               hashlib.md5(buf.getvalue()).hexdigest())
    x, y = mod._read_cifar(str(root), "cifar-100-python", ("train",), "fine_labels", True)
    assert torch.equal(x, torch.ones(2, 3, 32, 32)) and y.tolist() == [1, 2]


def test_an_archive_escaping_its_root_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../outside")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "a.tar.gz").write_bytes(buf.getvalue())
    mod = generated(tmp_path, f'cifar10(root="{tmp_path}")')
    with pytest.raises(mod.DataError, match="'../outside', which is not a plain file under"):
        mod._extract(tmp_path / "a.tar.gz", tmp_path / "root")
    assert not (tmp_path / "outside").exists()


# ------------------------------------------------------------------ static checks
@pytest.mark.parametrize("data,c,s,want", [
    ("cifar10()", 1, 28, "cifar10() gives samples of shape (3, 32, 32), but input 'image' is (B, 1, 28, 28)"),
    ("fashion_mnist()", 3, 32, "fashion_mnist() gives samples of shape (1, 28, 28), but input 'image' is "
                               "(B, 3, 32, 32)"),
])
def test_shapes_checked_against_the_input(data, c, s, want):
    assert ("data-mismatch", 6, want) in errors(CNN.format(c=c, s=s, classes=10, data=data))


@pytest.mark.parametrize("data,classes,ok", [
    ("cifar100()", 100, True), ("cifar100()", 20, False), ('cifar100(label_mode="coarse")', 20, True),
    ('cifar100(label_mode="coarse")', 100, False), ("cifar10()", 10, True), ("cifar10()", 100, False),
])
def test_class_count_checked_against_the_output(data, classes, ok):
    errs = errors(CNN.format(c=3, s=32, classes=classes, data=data))
    if ok:
        assert errs == []
    else:
        want = 20 if "coarse" in data else 100 if "100" in data else 10
        assert [(e[0], e[2].split(",")[0]) for e in errs] == [("loss-mismatch", f"{data.split('(')[0]}() has "
                                                              f"{want} classes")]


def test_label_mode_is_checked():
    (code, line, msg), = errors(CNN.format(c=3, s=32, classes=100, data='cifar100(label_mode="super")'))
    assert line == 6 and "label_mode" in msg


def test_trains_a_few_steps_on_cifar10_files(tmp_path):
    """The whole script: read, check, train two steps, write the checkpoint."""
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        cifar_pickle(base / name, rng.integers(0, 256, size=(8, 3072), dtype=np.uint8),
                     labels=rng.integers(0, 10, size=8).tolist())
    path = script(tmp_path, f'cifar10(root="{tmp_path}")')
    r = subprocess.run([sys.executable, str(path), "--out", str(tmp_path / "run"), "--max-steps", "2", "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert [tuple(v.shape) for v in ckpt["model"].values()] == [(10, 3072), (10,)]
    assert ckpt["epoch"] == 1
