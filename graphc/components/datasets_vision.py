"""The standard image data sets: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100.

Each reads the layout torchvision keeps on disk (``ROOT/MNIST/raw/`` idx files,
``ROOT/cifar-10-batches-py/`` pickles, ...), so a folder torchvision filled serves as
it is, and torchvision is never imported.  ``download=true`` fetches the files that
are missing from the official addresses, checks each against its published MD5 and
stops with one line when it cannot (offline, a wrong checksum).  The registry test
loads each through its code from files ``write_sample`` makes in the same formats.
"""

from __future__ import annotations

from typing import Literal

from graphc import pyfmt
from graphc.components.base import Params, Sample, register
from graphc.components.datasets import Dataset

#: fetching a file: used by every data set with ``download``; the addresses are the
#: canonical ones torchvision uses, the checksums the published MD5s of the files.
DOWNLOAD = """
_DOWNLOAD_TIMEOUT = 60  # seconds without an answer before a download gives up


def _md5(path):
    import hashlib

    h = hashlib.md5(usedforsecurity=False)
    with open(path, 'rb') as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _download(urls, path, md5):
    \"\"\"path, fetched from the first of urls that gives it with the MD5 md5; one line when none does.\"\"\"
    import urllib.request

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'{path.name}.{os.getpid()}.part')  # several processes may fetch at once
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as r, open(tmp, 'wb') as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except (OSError, ValueError) as e:  # no network, no such host, refused, timed out, HTTP errors
            errors.append(f'{url}: {getattr(e, "reason", None) or e}')
            continue
        got = _md5(tmp)
        if got != md5:
            tmp.unlink()
            errors.append(f'{url}: MD5 {got}, expected {md5}')
            continue
        os.replace(tmp, path)
        return
    tmp.unlink(missing_ok=True)
    raise DataError(f'cannot download {path.name} ({"; ".join(errors)}): '
                    f'without a network, put the file in {path.parent} yourself')
"""


class _Idx(Dataset):
    """28×28 grayscale images in idx files (plain or gzipped) under ``ROOT/<folder>/raw/``."""

    task, classes = "class", 10
    folder: str

    class Params(Params):
        root: str = "data"
        train: bool = True
        download: bool = False

    samples = (Sample({}), Sample({"train": False, "download": True}))

    def sample_shape(self, p):
        return (1, 28, 28)

    def describe(self, p):
        return f"{self.title}'s {'training' if p.train else 'test'} images under {p.root}/{self.folder}/raw"

    def reader(self, p):
        return (f"_read_idx({pyfmt.literal(p.root)}, {pyfmt.literal(self.folder)}, {pyfmt.literal(p.train)}, "
                f"{pyfmt.literal(p.download)})")

    def write_sample(self, folder, n, shape, classes):
        raw = folder / self.folder / "raw"
        raw.mkdir(parents=True)
        images = bytes((i * 7 + j) % 256 for i in range(n) for j in range(28 * 28))
        labels = bytes(i % 10 for i in range(n))
        for prefix in ("train", "t10k"):
            (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
                b"\0\0\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28)) + images)
            (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + n.to_bytes(4, "big") + labels)
        return {"root": str(folder)}


IDX_CODE = """
#: where download=true fetches each idx folder's files (mirrors in order), with their MD5s
_IDX_FILES = {
    'MNIST': (('https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'), {
        'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
        'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
        't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
        't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c',
    }),
    'FashionMNIST': (('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',), {
        'train-images-idx3-ubyte.gz': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
        'train-labels-idx1-ubyte.gz': '25c81989df183df01b3e8a0aad5dffbe',
        't10k-images-idx3-ubyte.gz': 'bef4ecab320f06d8554ea6380940ec79',
        't10k-labels-idx1-ubyte.gz': 'bb300cfdad3c16e7a12a480ee83cd310',
    }),
}


def _read_idx(root, folder, train, download):
    \"\"\"(images (N, 1, 28, 28) in [0, 1], labels (N,)) of an MNIST-format folder.\"\"\"
    import gzip

    raw = Path(root) / folder / 'raw'
    arrays = []
    for kind, magic in (('images-idx3', 2051), ('labels-idx1', 2049)):
        path = raw / f"{'train' if train else 't10k'}-{kind}-ubyte"
        gz = path.with_name(path.name + '.gz')
        if not path.exists() and (gz.exists() or download):
            path = gz
        if download and not path.exists():  # only what is missing is fetched
            mirrors, md5s = _IDX_FILES[folder]
            _download([m + path.name for m in mirrors], path, md5s[path.name])
        try:
            with (gzip.open if path.suffix == '.gz' else open)(path, 'rb') as f:
                data = f.read()
        except OSError as e:
            raise DataError(f'cannot read {path}: {e} ({folder} idx files go under {raw}, '
                            'or pass download=true)') from None
        ndim = data[3] if len(data) >= 4 else 0
        if int.from_bytes(data[:4], 'big') != magic or len(data) < 4 + 4 * ndim:
            raise DataError(f'{path} is not an idx file of {folder}')
        dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
        body = data[4 + 4 * ndim:]
        if len(body) != math.prod(dims):
            raise DataError(f'{path} holds {len(body)} bytes of values, its header says {dims}')
        arrays.append(torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims))
    x, y = arrays
    if len(x) != len(y) or tuple(x.shape[1:]) != (28, 28):
        raise DataError(f'{raw}: {len(x)} images of {tuple(x.shape[1:])} and {len(y)} labels; '
                        'expected 28x28 images, one label each')
    return x.unsqueeze(1).float() / 255.0, y.long()
"""


@register
class mnist(_Idx):  # noqa: N801 - the name a .model file writes
    """MNIST's 28×28 handwritten digits, 10 classes, from its idx files (plain or gzipped) under
    ``ROOT/MNIST/raw/``, where torchvision keeps them; ``train=false`` reads the 10,000 test images."""

    folder, title = "MNIST", "MNIST"
    code = (DOWNLOAD, IDX_CODE)


@register
class fashion_mnist(_Idx):  # noqa: N801
    """Zalando's Fashion-MNIST, 28×28 images of 10 kinds of clothing, from idx files under
    ``ROOT/FashionMNIST/raw/``; ``train=false`` reads the 10,000 test images."""

    folder, title = "FashionMNIST", "Fashion-MNIST"
    code = (DOWNLOAD, IDX_CODE)


CIFAR_CODE = """
_CIFAR_ARCHIVES = {  # download=true: each folder's archive, with its MD5
    'cifar-10-batches-py': ('https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz',
                            'c58f30108f718f92721af3b95e74349a'),
    'cifar-100-python': ('https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz',
                         'eb9058c3a382ffc7106e4002c42a8d85'),
}


def _unpickle_batch(path):
    \"\"\"A CIFAR batch: a pickled dict of a NumPy array and lists, read allowing nothing else (a
    pickle can name any function to call; this one may name only NumPy's array constructors).\"\"\"
    import pickle

    allowed = {('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', '_reconstruct'),
               ('numpy._core.multiarray', '_reconstruct'), ('numpy.core.multiarray', 'scalar'),
               ('numpy._core.multiarray', 'scalar'), ('_codecs', 'encode')}  # bytes in a protocol-2 pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in allowed:
                raise pickle.UnpicklingError(f'{module}.{name} has no place in a CIFAR batch')
            return super().find_class(module, name)

    try:
        with open(path, 'rb') as f:
            batch = Unpickler(f, encoding='bytes').load()
    except OSError as e:
        raise DataError(f'cannot read {path}: {e} (put the extracted CIFAR folder under the root, '
                        'or pass download=true)') from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
        raise DataError(f'{path} is not a CIFAR batch: {e}') from None
    if not isinstance(batch, dict):
        raise DataError(f'{path} is not a CIFAR batch (a pickled dict)')
    return {k.decode('latin1') if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _extract(archive, root):
    \"\"\"A downloaded .tar.gz, unpacked under root; members that would land outside it are refused.\"\"\"
    import tarfile

    base = Path(root).resolve()
    with tarfile.open(archive, 'r:gz') as tar:
        for m in tar.getmembers():
            if not (m.isfile() or m.isdir()) or not (base / m.name).resolve().is_relative_to(base):
                raise DataError(f'{archive} holds {m.name!r}, which is not a plain file under {root}')
        tar.extractall(base, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))


def _read_cifar(root, folder, files, label_key, download):
    \"\"\"(images (N, 3, 32, 32) in [0, 1], labels (N,)) of CIFAR's Python batches.\"\"\"
    import numpy as np

    base = Path(root) / folder
    if download and not all((base / name).exists() for name in files):
        url, md5 = _CIFAR_ARCHIVES[folder]
        archive = Path(root) / url.rsplit('/', 1)[1]
        if not archive.exists() or _md5(archive) != md5:
            _download([url], archive, md5)
        _extract(archive, root)
    xs, ys = [], []
    for name in files:
        path = base / name
        batch = _unpickle_batch(path)
        if 'data' not in batch or label_key not in batch:
            raise DataError(f'{path} has no {"data" if "data" not in batch else label_key!r} entry '
                            f'(it has {sorted(map(str, batch))})')
        data = np.asarray(batch['data'])
        labels = np.asarray(batch[label_key])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
            raise DataError(f'{path}: data is {data.dtype} {data.shape} with {len(labels)} labels; expected '
                            'uint8 (N, 3072), rows of 1024 red, 1024 green and 1024 blue values, one label each')
        xs.append(torch.from_numpy(data.copy()).reshape(-1, 3, 32, 32))
        ys.append(torch.from_numpy(labels.astype(np.int64)))
    return torch.cat(xs).float() / 255.0, torch.cat(ys)
"""


class _Cifar(Dataset):
    task = "class"
    code = (DOWNLOAD, CIFAR_CODE)

    def sample_shape(self, p):
        return (3, 32, 32)

    def reader(self, p):
        files, key = self.files(p)
        return (f"_read_cifar({pyfmt.literal(p.root)}, {pyfmt.literal(self.folder)}, {pyfmt.literal(files)}, "
                f"{pyfmt.literal(key)}, {pyfmt.literal(p.download)})")

    def describe(self, p):
        return f"{self.title}'s {'training' if p.train else 'test'} images under {p.root}/{self.folder}"

    def write_sample(self, folder, n, shape, classes):
        import pickle

        import numpy as np

        base = folder / self.folder
        base.mkdir(parents=True)
        data = (np.arange(n * 3072) * 7 % 256).astype(np.uint8).reshape(n, 3072)
        files = [f for train in (True, False) for f in self.files(self.Params(train=train))[0]]
        for name in files:
            batch = {b"batch_label": b"sample", b"data": data,  # labels from the last class down
                     b"labels": [(9 - i) % 10 for i in range(n)],
                     b"fine_labels": [(99 - i) % 100 for i in range(n)],
                     b"coarse_labels": [(19 - i) % 20 for i in range(n)]}
            (base / name).write_bytes(pickle.dumps(batch, protocol=2))
        return {"root": str(folder)}


@register
class cifar10(_Cifar):  # noqa: N801
    """CIFAR-10's 32×32 colour images of 10 classes, from the Python batches under
    ``ROOT/cifar-10-batches-py/`` (50,000 training images; ``train=false``: the 10,000 test images)."""

    classes, folder, title = 10, "cifar-10-batches-py", "CIFAR-10"
    samples = (Sample({}), Sample({"train": False, "download": True}))

    class Params(Params):
        root: str = "data"
        train: bool = True
        download: bool = False

    def files(self, p):
        return (tuple(f"data_batch_{i}" for i in range(1, 6)) if p.train else ("test_batch",)), "labels"


@register
class cifar100(_Cifar):  # noqa: N801
    """CIFAR-100's 32×32 colour images, from ``ROOT/cifar-100-python/``: 100 classes, or with
    ``label_mode="coarse"`` their 20 superclasses."""

    classes, folder, title = 100, "cifar-100-python", "CIFAR-100"
    samples = (Sample({}), Sample({"train": False, "download": True, "label_mode": "coarse"}))

    class Params(Params):
        root: str = "data"
        train: bool = True
        download: bool = False
        label_mode: Literal["fine", "coarse"] = "fine"

    def num_classes(self, p):
        return 20 if p.label_mode == "coarse" else 100

    def files(self, p):
        return ("train",) if p.train else ("test",), f"{p.label_mode}_labels"
