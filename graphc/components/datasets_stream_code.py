"""The streaming code of the training script (``STREAM_CODE``), emitted where the data is streamed
(graphc/components/datasets_stream.py says when and what): the DataLoader, its seeded resumable
sampler, the samples of a data set of your own split into the model's inputs and targets, and the
check of the first sample."""

STREAM_CODE = '''
#: the files an image folder reads (torchvision's IMG_EXTENSIONS, and .gif)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp', '.gif')


class ImageFiles(torch.utils.data.Dataset):
    """The images of one folder per class (the folder names, sorted, are the classes), each file
    opened when its sample is asked for: memory holds the file names, not the images. The first
    folder read (the training data's) sets the classes (DATA_INFO, saved with the checkpoint); a
    later one (val_data, --eval --data) is labelled by them, by name."""

    SUFFIXES = IMAGE_SUFFIXES

    def __init__(self, path, size, grayscale):
        import numpy as np

        root = Path(path)
        classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not classes:
            raise DataError(f'{path} must hold one folder of images per class')
        index = class_index(path, classes)
        files, labels, ignored = [], [], []
        for name in classes:
            for f in sorted((root / name).iterdir()):
                if f.suffix.lower() in self.SUFFIXES:
                    files.append(str(f))
                    labels.append(index[name])
                elif f.is_file():
                    ignored.append(f.name)
        if not files:
            raise DataError(f'{path} holds no images ({", ".join(self.SUFFIXES)})')
        note_ignored(path, ignored)
        self.files = np.array(files)  # one array, not a list of objects: workers share it untouched
        self.labels = torch.tensor(labels)
        self.size, self.grayscale = size, grayscale

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return read_image(self.files[i], self.size, self.grayscale), self.labels[i]


def read_image(path, size, grayscale):
    """One image file as a float tensor (C, H, W) in [0, 1], resized bilinearly to size (or as
    stored): training, evaluation and --predict read images with this one function."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert('L' if grayscale else 'RGB')
            if size is not None:
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).reshape(img.height, img.width, -1)
    except Exception as e:  # noqa: BLE001 - truncated, corrupt or not an image: PIL raises many kinds
        raise DataError(f'{path} is not an image PIL can read ({type(e).__name__}: {one_line(e)}): '
                        'replace or remove it') from None
    return t.permute(2, 0, 1).float().div_(255.0)


def class_index(path, classes):
    """{class folder: label}: the first folder read sets the classes (DATA_INFO['classes'], saved
    with the checkpoint); a later one (val_data, --eval --data) is labelled by their names, and a
    class they lack is an error. The training data's classes must be as many as the model's class
    scores (a label past them would stop training mid-epoch)."""
    if 'classes' not in DATA_INFO and TASK == 'class' and NUM_CLASSES is not None and len(classes) != NUM_CLASSES:
        shown = ', '.join(classes[:6]) + (', ...' if len(classes) > 6 else '')
        raise DataError(f'{path} has {len(classes)} class folders ({shown}), but the model gives {NUM_CLASSES} '
                        f'class scores: end the model with Linear({len(classes)}), or give the folder '
                        f'{NUM_CLASSES} class folders')
    known = DATA_INFO.setdefault('classes', list(classes))
    unknown = [c for c in classes if c not in known]
    if unknown:
        raise DataError(f'{path} has class folders the training data has not: {unknown[:5]} (its classes: '
                        f'{list(known)[:10]}): rename them to those, or leave them out')
    return {name: known.index(name) for name in classes}


def note_ignored(path, ignored):
    """One line (once, from the first process) on the files of an image folder that are not images."""
    if ignored and os.environ.get('RANK', '0') == '0':
        shown = ', '.join(ignored[:3]) + (', ...' if len(ignored) > 3 else '')
        print(f'note: {path}: {len(ignored)} file{"s" if len(ignored) > 1 else ""} ignored, not images by '
              f'name ({shown}); images end in {" ".join(IMAGE_SUFFIXES)}', file=sys.stderr)


class Items(torch.utils.data.Dataset):
    """Tensors held in memory, handed out a sample at a time: several inputs (or several targets)
    as a tuple, one tensor each."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = tuple(t[i] for t in self.x.tensors) if isinstance(self.x, Inputs) else self.x[i]
        if isinstance(self.y, Inputs):  # in SAMPLE_TARGETS' order; a sample's tuple is in the outputs'
            given = dict(zip(SAMPLE_TARGETS, (t[i] for t in self.y.tensors), strict=True))
            return x, tuple(given[key] for key in TUPLE_TARGETS)
        return x, self.y[i]


def split_items(data, fraction, seed):
    """A seeded train/validation split of a data set, as split() makes of tensors."""
    if fraction <= 0:
        return data, Items(torch.zeros(0), torch.zeros(0))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(len(data) * fraction))
    return torch.utils.data.Subset(data, order[n_val:]), torch.utils.data.Subset(data, order[:n_val])


def split_sample(sample, who='a sample'):
    """A data set's sample as [inputs], [targets], one value each, of the model's inputs (SAMPLE_INPUTS)
    and of what it takes from the data (SAMPLE_TARGETS): a pair (x, y), x and y tuples in the declared
    order where there are several, or a dict keyed as the arrays of an npz file (the inputs' names,
    "y" or "y_<output>")."""
    if isinstance(sample, dict):
        def pick(keys, what):
            for key in keys:
                if key in sample:
                    return sample[key]
            raise DataError(f'{who} has no key {" or ".join(map(repr, keys))} for {what} (it has '
                            f'{", ".join(repr(k) for k in sample) or "none"})')

        xs = [pick(keys, f'input {keys[-1]!r}') for keys in SAMPLE_INPUTS]
        ys = [pick((key,), f'the targets of output {key[2:]!r}' if key != 'y' else 'the targets')
              for key in SAMPLE_TARGETS]
    elif isinstance(sample, (tuple, list)) and len(sample) == 2:
        x, y = sample
        names = [keys[-1] for keys in SAMPLE_INPUTS]
        xs = [x] if len(names) == 1 else sample_tuple(x, names, f"{who}'s inputs")
        if len(SAMPLE_TARGETS) > 1:  # in the order of the outputs' declaration
            ys = sample_tuple(y, [k[2:] for k in TUPLE_TARGETS], f"{who}'s targets")
            given = dict(zip(TUPLE_TARGETS, ys, strict=True))
            ys = [given[key] for key in SAMPLE_TARGETS]
        else:
            ys = [y][:len(SAMPLE_TARGETS)]
    else:
        keys = [k for keys in SAMPLE_INPUTS for k in keys[-1:]] + list(SAMPLE_TARGETS)
        got = type(sample).__name__ + (f' of {len(sample)}' if isinstance(sample, (tuple, list)) else '')
        raise DataError(f'{who} must be an (input, target) pair or a dict with keys {", ".join(keys)}, got {got}')
    return xs, ys


def sample_tuple(value, names, what):
    """A sample's inputs or targets: a tuple or list of one per name."""
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = f'{type(value).__name__} of {len(value)}' if isinstance(value, (tuple, list)) else type(value).__name__
        raise DataError(f"{what} must be a tuple of {len(names)} ({', '.join(names)}), got {got}")
    return list(value)


class Samples(torch.utils.data.Dataset):
    """A data set's samples through transforms, asked for as (epoch, index): a random transform
    draws from a generator seeded by the seed, the epoch and the index, the same in any worker.
    The transforms apply to a model of one input (several inputs take none: checked statically)."""

    def __init__(self, data, steps, seed):
        self.data, self.steps, self.seed = data, steps, seed

    def __len__(self):
        return len(self.data)

    def __getitem__(self, key):
        epoch, i = key
        xs, ys = split_sample(self.data[i])
        if self.steps:
            g = torch.Generator().manual_seed(sample_seed(self.seed, epoch, i))
            if type(self.steps[0]).__name__ != '_ToTensor':  # ToTensor takes images and arrays as they are
                xs[0] = sample_tensor(xs[0])
            for t in self.steps:
                xs[0] = t(xs[0], g)
        xs, ys = [sample_tensor(v) for v in xs], [torch.as_tensor(v) for v in ys]
        return xs[0] if len(xs) == 1 else tuple(xs), torch.zeros(0) if not ys else ys[0] if len(ys) == 1 else tuple(ys)


def sample_seed(seed, epoch, i):
    """The seed of sample i's random transforms in an epoch: a 64-bit hash of (seed, epoch, i), the
    same in any process, and distinct for every epoch and index (no arithmetic wrap-around)."""
    import hashlib

    digest = hashlib.blake2b(f'{seed},{epoch},{i}'.encode(), digest_size=8).digest()
    return int.from_bytes(digest, 'little') & 0x7FFF_FFFF_FFFF_FFFF


def sample_tensor(value):
    """A sample's input as a tensor; a PIL image needs ToTensor() (one line, not torch's error)."""
    if hasattr(value, 'getbands') and hasattr(value, 'mode'):  # a PIL image
        raise DataError(f'the samples are PIL images ({value.mode}, {value.width}x{value.height}), which the '
                        'model cannot take as they are: add ToTensor() at the start of transform')
    return torch.as_tensor(value)


def stack_samples(values):
    """Samples' inputs (or targets) as one batch: Inputs of several."""
    if isinstance(values[0], (tuple, list)):
        return Inputs(torch.stack(column) for column in zip(*values, strict=True))
    return torch.stack(values)


def batch_targets(xb, yb):
    """A batch's targets as the loss wants them (xb: the inputs, on the device)."""
    if TASK == 'reconstruction':
        return target_input(xb)
    if TERMS is not None:  # each term's target, from the data or an input
        return head_targets(xb, yb)
    return as_targets(yb)


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
        self.samples, self.device, self.data = len(samples), device, getattr(samples, 'data', None)
        extra = {}
        if workers > 0:
            extra = {'persistent_workers': PERSISTENT_WORKERS, 'prefetch_factor': PREFETCH_FACTOR}
        # a generator of its own for the workers' seeds: the global one stays for the model (dropout
        # draws as they would from data in memory)
        self.loader = torch.utils.data.DataLoader(samples, batch_size=batch_size, sampler=self.sampler,
                                                  num_workers=workers, pin_memory=device.type == 'cuda',
                                                  generator=torch.Generator().manual_seed(seed), **extra)

    def __len__(self):
        return len(self.loader)

    def epoch(self, epoch):
        self.sampler.epoch = epoch
        batches = iter(self.loader)
        step = 0
        while True:
            step += 1
            try:
                xb, yb = next(batches)
                self.check_labels(yb, epoch, step)
            except StopIteration:
                return
            except Exception as e:  # noqa: BLE001 - reading, transforming or batching samples: one line
                stop = getattr(batches, '_shutdown_workers', None)
                if stop is not None:  # the workers stopped now, not waited for when the script exits
                    stop()
                raise DataError(self.failure(e, epoch, step)) from None
            xb = Inputs(xb) if INPUTS is not None else xb
            yb = Inputs(yb) if isinstance(yb, (tuple, list)) else yb
            xb = as_input(xb.to(self.device, non_blocking=True))
            yield xb, batch_targets(xb, yb.to(self.device, non_blocking=True))

    def check_labels(self, yb, epoch, step):
        """A batch's class labels within the model's class scores: a later sample's label is one line
        naming it, not the loss's IndexError."""
        if TASK == 'class' and NUM_CLASSES is not None and torch.is_tensor(yb) and yb.dim() == 1 \
                and not yb.is_floating_point():
            bad = ((yb < 0) | (yb >= NUM_CLASSES)).nonzero()
            if len(bad):
                k = int(bad[0])
                raise DataError(f'{self.where(epoch, step, k)} has the label {int(yb[k])}, but the model gives '
                                f'{NUM_CLASSES} class scores (labels 0 to {NUM_CLASSES - 1})')

    def where(self, epoch, step, k):
        """'sample I (batch STEP of epoch EPOCH)': the k-th sample of a batch, by its index in the data."""
        at = (step - 1) * self.loader.batch_size + k
        order = self.sampler.order()
        if at >= len(order):
            return f'batch {step} of epoch {epoch}'
        i = int(order[at])
        if isinstance(self.data, torch.utils.data.Subset):  # the index in the data set, not in its split
            i = int(self.data.indices[i])
        return f'sample {i} (batch {step} of epoch {epoch})'

    def failure(self, e, epoch, step):
        """One line on an error reading a batch: a DataError's message as it is; samples of different
        shapes named by their index; anything else by its type and message."""
        import re

        text = reason(e)
        found = re.search(r'stack expects each tensor to be equal size, but got .([0-9, ]*). at entry '
                          r'([0-9]+) and .([0-9, ]*). at entry ([0-9]+)', text)
        if found:
            a, i, b, j = found.groups()
            first, other = self.where(epoch, step, int(i)), self.where(epoch, step, int(j))
            base = self.data.dataset if isinstance(self.data, torch.utils.data.Subset) else self.data
            fix = ('give image_folder a size, or add CenterCrop to transform' if isinstance(base, ImageFiles)
                   else 'give every sample one shape, or add Resize and CenterCrop to transform')
            return (f'{first} has shape ({a}) but {other.partition(" (")[0]} has ({b}): the samples of a batch '
                    f'must have one shape ({fix})')
        if isinstance(e, DataError):
            return text
        return f'batch {step} of epoch {epoch}: reading the data failed: {text}'


def reason(e):
    """An error raised reading samples, on one line: a DataError's message; another's type and message
    (in a DataLoader worker: the last line of the report it sends)."""
    # a DataError's str() escapes newlines: the lines of a worker's report are in its raw text
    text = ('\\n'.join(str(a) for a in e.args) if isinstance(e, DataError) else str(e)).strip()
    if 'Original Traceback' in text:  # raised in a worker: its own error is the report's last line
        last = text.splitlines()[-1]
        return last.partition('DataError: ')[2] or last
    return text if isinstance(e, DataError) else f'{type(e).__name__}: {one_line(e)}'


def check_first(samples, what):
    """The first sample against each of the model's inputs and the targets (one line when it does
    not fit)."""
    try:
        split_sample(samples.data[0], 'the first sample')
        x, y = samples[(0, 0)]
    except DataError as e:
        raise DataError(f'{what}: {e}') from None
    except Exception as e:  # noqa: BLE001 - anything a data set of your own may raise
        raise DataError(f'{what}: reading the first sample failed: {type(e).__name__}: {one_line(e)}') from None
    rows = INPUTS if INPUTS is not None else ((None, INPUT_SHAPE, INPUT_DTYPE, ID_LIMIT),)
    for t, (name, shape, _, _) in zip(x if INPUTS is not None else (x,), rows, strict=True):
        want = tuple(d if d is not None else t.shape[i] for i, d in enumerate(shape)) \
            if t.dim() == len(shape) else shape
        if tuple(t.shape) != want:
            shown = '(' + ', '.join('?' if d is None else str(d) for d in shape) + (',)' if len(shape) == 1 else ')')
            if name is None:
                raise DataError(f'{what}: the first sample has shape {tuple(t.shape)}, but the model takes one '
                                f'of {shown}')
            raise DataError(f"{what}: the first sample's input {name!r} has shape {tuple(t.shape)}, but the model "
                            f'takes one of {shown}')
    xb = Inputs(t[None] for t in x) if INPUTS is not None else x[None]
    yb = Inputs(t[None] for t in y) if isinstance(y, tuple) else y[None]
    check_data(xb, yb if TERMS is not None else as_targets(yb), f'{what} (first sample)')
    if HEADS is not None:  # several outputs: each one's targets
        check_heads(xb, yb, f'{what} (first sample)')
    data = yb.tensors if isinstance(yb, Inputs) else (yb,)
    values = [(f"output {name!r}", TARGET_VALUES[name], data[TARGET_SLOTS[slot][1]])
              for name, _, slot, _, _ in HEADS or () if name in TARGET_VALUES and TARGET_SLOTS[slot][0] == 'data']
    if HEADS is None and TASK in ('binary', 'regression') and None not in OUTPUT_SHAPE:
        values.append(('the output', math.prod(OUTPUT_SHAPE), yb))
    for mine, n, t in values:  # as many values as the output has: the loss reshapes them so
        if t[0].numel() != n:
            raise DataError(f"{what}: the first sample's target of {mine} has {t[0].numel()} values "
                            f"{tuple(t.shape[1:])}, but the output has {n}")


def measure_stats(data, steps, args):
    """Per-channel mean and std of up to 10,000 samples of the training data (as the evaluation
    transforms give them), for Normalize() without statistics."""
    n = min(len(data), 10000)
    sub = torch.utils.data.Subset(Samples(data, steps, args.seed), [(0, i) for i in range(n)])
    total = sq = count = 0
    try:
        for xb, _ in torch.utils.data.DataLoader(sub, batch_size=256, num_workers=args.num_workers):
            xb = xb.double().transpose(0, 1).flatten(1)
            total, sq, count = total + xb.sum(1), sq + (xb * xb).sum(1), count + xb.shape[1]
    except Exception as e:  # noqa: BLE001 - a corrupt file, a sample of the wrong kind: one line
        raise DataError(f'measuring the statistics of Normalize() on the training data: {reason(e)}') from None
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return mean.float().tolist(), std.float().tolist()


def stream_eval_data(args, seed, ckpt):
    """--eval: the validation samples (or --data's) through the evaluation transforms, with the
    statistics of Normalize() the checkpoint saved; eval_batches reads them batch by batch."""
    data = data_file_items(args.data) if args.data else load_items(seed)[1]
    _, steps = make_transforms()
    stats = (ckpt.get('data_info') or {}).get('normalize')
    for t in steps:
        if type(t).__name__ == '_Normalize' and t.mean is None and stats:
            t.set_stats(stats['mean'], stats['std'])
    return Samples(data, steps, seed)


def eval_batches(args, samples, device):
    """--eval on streamed data: the samples checked (the first one) and read batch by batch by
    --num-workers workers, as validation reads them in training: memory holds a batch, not the data."""
    if not len(samples):
        raise DataError('there is no validation data (val_split = 0): pass --data FILE')
    if args.num_workers < 0:
        raise DataError(f'--num-workers must be 0 or more, got {args.num_workers}')
    check_first(samples, args.data or 'validation data')
    return Loader(samples, max(args.batch_size, 256), False, 0, 0, 1, False, device, args.num_workers)


def all_samples(samples):
    """(x, y) of every sample in memory, as a file's reader gives them (Inputs of several)."""
    if not len(samples):
        return torch.zeros(0), torch.zeros(0)
    xs, ys = zip(*(samples[(0, i)] for i in range(len(samples))), strict=True)
    y = stack_samples(ys)
    return stack_samples(xs), y if TERMS is not None or TASK == 'reconstruction' else as_targets(y)


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
