"""Streamed data: read a sample at a time through ``torch.utils.data.DataLoader``.

An image folder is always streamed (its files are opened when a sample is asked for, so
memory holds file names, not images), and so is a data set of your own,
``data = dataset("package.module:function")``.  Any other data set is streamed when the
train section gives transforms (``transform``, ``augment``) or ``num_workers``: its
tensors are loaded as before and handed out a sample at a time.

The script's ``stream_batches`` (``STREAM_CODE`` below) builds, for training and for
validation, a DataLoader with ``num_workers`` worker processes, ``pin_memory`` on CUDA,
``persistent_workers`` and ``prefetch_factor``, and a sampler of its own: a permutation
seeded by the run's seed and the epoch, sharded across torchrun's processes as
``DistributedSampler`` does, so that ``--resume`` replays the same order.  The sampler
hands the data set ``(epoch, index)``, and every random transform draws from a generator
seeded by the seed, the epoch and the index: the same augmentation whatever the number of
workers.  The first sample is checked against the model's input when the script starts.
"""

from __future__ import annotations

import re

from graphc import pyfmt
from graphc.components.base import Params, Sample, register
from graphc.components.datasets import Dataset
from graphc.errors import diag

#: a data set of your own: imported by name, so that worker processes can import it too
USER_DATASET = '''
def _user_dataset(target):
    """The torch Dataset that "module:function" or "file.py:function" returns."""
    import importlib
    import sys

    where, _, name = target.rpartition(':')
    try:
        if where.endswith('.py'):  # imported by its name, from its folder: worker processes can import it too
            path = Path(where).resolve()
            if not path.is_file():
                raise DataError(f'dataset({target!r}): there is no file {where}')
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            where = path.stem
        module = importlib.import_module(where)
    except ImportError as e:
        why = (str(e).strip() or type(e).__name__).splitlines()[0]
        raise DataError(f'dataset({target!r}): cannot import {where}: {why}') from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise DataError(f'dataset({target!r}): {where} has no function {name}')
    data = fn()
    if not (hasattr(data, '__getitem__') and hasattr(data, '__len__')):
        raise DataError(f'dataset({target!r}) returned {type(data).__name__}, not a torch Dataset '
                        '(with __len__ and __getitem__)')
    return data


def _read_dataset(target):
    """(x, y) of every sample of a data set of your own, in memory (for --eval)."""
    data = _user_dataset(target)
    pairs = [data[i] for i in range(len(data))]
    if not pairs:
        raise DataError(f'dataset({target!r}) has no samples')
    return torch.stack([torch.as_tensor(x) for x, _ in pairs]), torch.as_tensor([y for _, y in pairs])
'''

_TARGET = re.compile(r"^(?:[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*|[^:]+\.py):[A-Za-z_]\w*$")


@register
class dataset(Dataset):  # noqa: N801 - the name a .model file writes
    """A torch ``Dataset`` of your own: ``"package.module:function"``, or ``"file.py:function"`` (a path
    from the directory the script runs in), called with no arguments; its samples are (input, target)
    pairs, read one at a time. The first is checked against the model's input when the script starts."""

    task = "file"
    streams = True
    samples = (Sample({"function": "graphc_sample_data:make"}, (3, 4, 4)),)
    code = USER_DATASET

    class Params(Params):
        function: str

    def problems(self, p):
        if not _TARGET.match(p.function):
            return [(f"dataset({p.function!r}) names no function",
                     'write "package.module:function" or "file.py:function"')]
        return []

    def describe(self, p):
        return f"the samples of {p.function}()"

    def items(self, p):
        return f"_user_dataset({pyfmt.literal(p.function)})"

    def reader(self, p):  # --eval: the samples in memory
        return f"_read_dataset({pyfmt.literal(p.function)})"

    def write_sample(self, folder, n, shape, classes):
        (folder / "graphc_sample_data.py").write_text(
            "import torch\n\n\n"
            "class Squares(torch.utils.data.Dataset):\n"
            f"    def __len__(self):\n        return {n}\n\n"
            "    def __getitem__(self, i):\n"
            f"        return torch.full({tuple(shape)}, float(i)), i % {classes}\n\n\n"
            "def make():\n    return Squares()\n")
        return {"function": f"{folder / 'graphc_sample_data.py'}:make"}


def streamed(comps, s, has_lists: bool) -> bool:
    """Whether the training script reads the data a sample at a time."""
    data = comps["data"]
    val = comps.get("val_data")
    return bool(data.record.streams or (val is not None and val.record.streams) or has_lists or s.num_workers)


def check_streaming(prog, comps, s, seen, lists) -> list:
    """Transforms against the model's input, and what streamed data cannot do."""
    from graphc.components.transforms import check_lists

    out = []
    span = {k: st.value.span for k, st in seen.items()}
    (in_name, in_ref), *others = prog.root.inputs
    xt = prog.type_of(in_ref)
    if xt is None or "data" not in comps:
        return out
    for key in ("data", "val_data"):
        if key in comps:
            out += [diag(span[key], "invalid-train", m, h) for m, h in comps[key].record.problems(comps[key].params)]
    several = bool(others) or len(prog.outputs) > 1
    if lists:
        out += check_lists(comps["data"], lists, in_name, xt, span, several)
    if not streamed(comps, s, bool(lists)):
        return out
    data = comps["data"]
    why = (f"{data.name}() is read a sample at a time" if data.record.streams
           else "the data is streamed (transforms or num_workers)")
    if s.normalize:
        out.append(diag(span.get("normalize", prog.train.span), "invalid-train",
                        f"normalize = true needs the whole data in memory, but {why}",
                        "add Normalize() at the end of transform (the training data's own statistics)"))
    if several and not lists:
        out.append(diag(span["data"], "invalid-train", f"{why}: streamed data feeds a model of one input and one output",
                        "use npz(...) for several inputs or outputs"))
    return out


def script_code(spec) -> str:
    """The script's streaming code: ``load_items``, the transforms and STREAM_CODE."""
    from graphc.components.transforms import script_code

    d, v = spec.data, spec.val_data
    desc = pyfmt.text(d.record.describe(d.params))
    lines = ["def load_items(seed):",
             f'    """(training samples, validation samples), torch Datasets of (x, y): {desc}."""']
    if d.record.streams:
        lines.append(f"    data = {d.record.items(d.params)}")
        if v is None:
            lines.append("    return split_items(data, VAL_SPLIT, seed)")
        elif v.record.streams:
            lines.append(f"    return data, {v.record.items(v.params)}")
        else:
            lines.append(f"    return data, Items(*{v.record.reader(v.params)})")
    else:  # tensors loaded whole, handed out a sample at a time
        lines += ["    x, y, x_val, y_val = load_data(seed)", "    return Items(x, y), Items(x_val, y_val)"]
    steps = [(c.record, c.params) for c in spec.transform]
    aug = [(c.record, c.params) for c in spec.augment]
    lines += ["", "", "def make_transforms():",
              '    """(training transforms, evaluation transforms): augment, then transform; transform alone."""']
    for name, chosen in (("transform", steps), ("augment", aug)):
        if chosen:
            lines += [f"    {name} = [", *(f"        {rec.build(p)}," for rec, p in chosen), "    ]"]
        else:
            lines.append(f"    {name} = []")
    lines.append("    return [*augment, *transform], transform")
    folder = d.record.name == "image_folder"
    lines += ["", "", "def data_file_items(path):",
              '    """--eval --data FILE: its samples, read as the training data is."""']
    if folder:
        lines += ["    if Path(path).is_dir():",
                  f"        return {d.record.items(type(d.params)(**{**d.params.model_dump(), 'path': 'PATH'}))}"
                  .replace("'PATH'", "path")]
    lines.append("    return Items(*read_data_file(path))")
    code = script_code(steps + aug)
    if code:
        lines += ["", "", *code]
    lines += ["", "", *STREAM_CODE.strip("\n").split("\n")]
    return "\n".join(lines)


STREAM_CODE = '''
class ImageFiles(torch.utils.data.Dataset):
    """The images of one folder per class (the folder names, sorted, are the classes), each file
    opened when its sample is asked for: memory holds the file names, not the images."""

    SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp')

    def __init__(self, path, size, grayscale):
        import numpy as np

        root = Path(path)
        classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not classes:
            raise DataError(f'{path} must hold one folder of images per class')
        DATA_INFO.setdefault('classes', classes)  # the training data's, for --predict
        files, labels = [], []
        for label, name in enumerate(classes):
            for f in sorted((root / name).iterdir()):
                if f.suffix.lower() in self.SUFFIXES:
                    files.append(str(f))
                    labels.append(label)
        if not files:
            raise DataError(f'{path} holds no images ({", ".join(self.SUFFIXES)})')
        self.files = np.array(files)  # one array, not a list of objects: workers share it untouched
        self.labels = torch.tensor(labels)
        self.size, self.grayscale = size, grayscale

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.files[i]) as img:
            img = img.convert('L' if self.grayscale else 'RGB')
            if self.size is not None:
                img = img.resize((self.size[1], self.size[0]), Image.BILINEAR)
            t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).reshape(img.height, img.width, -1)
        return t.permute(2, 0, 1).float().div_(255.0), self.labels[i]


class Items(torch.utils.data.Dataset):
    """Tensors held in memory, handed out a sample at a time."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def split_items(data, fraction, seed):
    """A seeded train/validation split of a data set, as split() makes of tensors."""
    if fraction <= 0:
        return data, Items(torch.zeros(0), torch.zeros(0))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(len(data) * fraction))
    return torch.utils.data.Subset(data, order[n_val:]), torch.utils.data.Subset(data, order[:n_val])


class Samples(torch.utils.data.Dataset):
    """A data set's samples through transforms, asked for as (epoch, index): a random transform
    draws from a generator seeded by the seed, the epoch and the index, the same in any worker."""

    def __init__(self, data, steps, seed):
        self.data, self.steps, self.seed = data, steps, seed

    def __len__(self):
        return len(self.data)

    def __getitem__(self, key):
        epoch, i = key
        sample = self.data[i]
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise DataError(f'a sample must be an (input, target) pair, got {type(sample).__name__}'
                            + (f' of {len(sample)}' if isinstance(sample, (tuple, list)) else ''))
        x, y = sample
        if self.steps:
            g = torch.Generator().manual_seed(((self.seed % 1000003) * 1000033 + epoch) * 1000037 + i)
            for t in self.steps:
                x = t(x, g)
        return torch.as_tensor(x), torch.as_tensor(y)


class EpochSampler(torch.utils.data.Sampler):
    """(epoch, index) of this process's share, in a seeded order per epoch, sharded across
    processes as DistributedSampler does (padded so that every process takes as many steps)."""

    def __init__(self, n, shuffle, seed, rank, world, pad):
        self.n, self.shuffle, self.seed, self.rank, self.world, self.pad = n, shuffle, seed, rank, world, pad
        self.epoch = 0

    def order(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.n)
        if self.world > 1:
            if self.pad:
                total = math.ceil(self.n / self.world) * self.world
                order = torch.cat([order, order[: total - self.n]])
            order = order[self.rank::self.world]
        return order

    def __iter__(self):
        return iter([(self.epoch, i) for i in self.order().tolist()])

    def __len__(self):
        return len(self.order())


def as_targets(y):
    """Targets as the loss wants them: class labels long, real values float32."""
    if not y.is_floating_point():
        return y.long() if TASK in ('class', 'tokens', 'dense') else y.float()
    return y.float()


class Loader:
    """Mini-batches of a data set read by DataLoader workers, moved to the device: the interface
    of Batches (epoch(), len(), samples)."""

    def __init__(self, samples, batch_size, shuffle, seed, rank, world, pad, device, workers):
        self.sampler = EpochSampler(len(samples), shuffle, seed, rank, world, pad)
        self.samples, self.device = len(samples), device
        extra = {}
        if workers > 0:
            extra = {'persistent_workers': PERSISTENT_WORKERS, 'prefetch_factor': PREFETCH_FACTOR}
        self.loader = torch.utils.data.DataLoader(samples, batch_size=batch_size, sampler=self.sampler,
                                                  num_workers=workers, pin_memory=device.type == 'cuda', **extra)

    def __len__(self):
        return len(self.loader)

    def epoch(self, epoch):
        self.sampler.epoch = epoch
        batches = iter(self.loader)
        while True:
            try:
                xb, yb = next(batches)
            except StopIteration:
                return
            except DataError as e:  # raised in a worker: its message is the last line of the report
                last = str(e).strip().splitlines()[-1]
                raise DataError(last.partition('DataError: ')[2] or last) from None
            xb = as_input(xb.to(self.device, non_blocking=True))
            yb = target_input(xb) if TASK == 'reconstruction' else as_targets(yb.to(self.device, non_blocking=True))
            yield xb, yb


def check_first(samples, what):
    """The first sample against the model's input (one line when it does not fit)."""
    try:
        x, y = samples[(0, 0)]
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - anything a data set of your own may raise
        raise DataError(f'{what}: reading the first sample failed: {type(e).__name__}: {one_line(e)}') from None
    want = tuple(d if d is not None else x.shape[i] for i, d in enumerate(INPUT_SHAPE)) \\
        if x.dim() == len(INPUT_SHAPE) else INPUT_SHAPE
    if tuple(x.shape) != want:
        shape = '(' + ', '.join('?' if d is None else str(d) for d in INPUT_SHAPE) + ')'
        raise DataError(f'{what}: the first sample has shape {tuple(x.shape)}, but the model takes one of {shape}')
    check_data(x[None], as_targets(y[None]), f'{what} (first sample)')


def measure_stats(data, steps, args):
    """Per-channel mean and std of up to 10,000 samples of the training data (as the evaluation
    transforms give them), for Normalize() without statistics."""
    n = min(len(data), 10000)
    sub = torch.utils.data.Subset(Samples(data, steps, args.seed), [(0, i) for i in range(n)])
    total = sq = count = 0
    for xb, _ in torch.utils.data.DataLoader(sub, batch_size=256, num_workers=args.num_workers):
        xb = xb.double().transpose(0, 1).flatten(1)
        total, sq, count = total + xb.sum(1), sq + (xb * xb).sum(1), count + xb.shape[1]
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return mean.float().tolist(), std.float().tolist()


def stream_eval_data(args, seed, ckpt):
    """--eval: (x, y) in memory, the validation samples (or --data's) through the evaluation
    transforms, with the statistics of Normalize() the checkpoint saved."""
    data = data_file_items(args.data) if args.data else load_items(seed)[1]
    _, steps = make_transforms()
    stats = (ckpt.get('data_info') or {}).get('normalize')
    for t in steps:
        if type(t).__name__ == '_Normalize' and t.mean is None and stats:
            t.set_stats(stats['mean'], stats['std'])
    samples = Samples(data, steps, seed)
    if not len(samples):
        return torch.zeros(0), torch.zeros(0)
    xs, ys = zip(*(samples[(0, i)] for i in range(len(samples))), strict=True)
    return torch.stack(xs), as_targets(torch.stack(ys))


def stream_batches(args, device, rank, world):
    """(training batches, validation batches, None): the data read a sample at a time by
    --num-workers worker processes, through the transforms."""
    try:
        train, val = load_items(args.seed)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - an empty, truncated or corrupt file: any error
        raise DataError(f'cannot load the data: {type(e).__name__}: {one_line(e)}') from None
    if len(train) == 0:
        raise DataError('training data has no samples')
    if args.num_workers < 0:
        raise DataError(f'--num-workers must be 0 or more, got {args.num_workers}')
    train_steps, eval_steps = make_transforms()
    measured = [t for t in eval_steps if type(t).__name__ == '_Normalize' and t.mean is None]
    if measured:
        mean, std = measure_stats(train, eval_steps, args)
        for t in measured:
            t.set_stats(mean, std)
        DATA_INFO['normalize'] = {'mean': mean, 'std': std}
    train_samples, val_samples = Samples(train, train_steps, args.seed), Samples(val, eval_steps, args.seed)
    check_first(train_samples, 'training data')
    if len(val):
        check_first(val_samples, 'validation data')
    train_batches = Loader(train_samples, args.batch_size, True, args.seed, rank, world, True, device,
                           args.num_workers)
    val_batches = Loader(val_samples, max(args.batch_size, 256), False, 0, rank, world, False, device,
                         args.num_workers)
    return train_batches, val_batches, None
'''
