"""The streaming code of the training script (``STREAM_CODE``), emitted where the data is streamed
(graphc/components/datasets_stream.py says when and what): the DataLoader, its seeded resumable
sampler, the samples of a data set of your own split into the model's inputs and targets, and the
check of the first sample."""

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
            g = torch.Generator().manual_seed(((self.seed % 1000003) * 1000033 + epoch) * 1000037 + i)
            if type(self.steps[0]).__name__ != '_ToTensor':  # ToTensor takes images and arrays as they are
                xs[0] = torch.as_tensor(xs[0])
            for t in self.steps:
                xs[0] = t(xs[0], g)
        xs, ys = [torch.as_tensor(v) for v in xs], [torch.as_tensor(v) for v in ys]
        return xs[0] if len(xs) == 1 else tuple(xs), torch.zeros(0) if not ys else ys[0] if len(ys) == 1 else tuple(ys)


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
        self.samples, self.device = len(samples), device
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
        while True:
            try:
                xb, yb = next(batches)
            except StopIteration:
                return
            except DataError as e:  # raised in a worker: its message is the last line of the report
                last = str(e).strip().splitlines()[-1]
                raise DataError(last.partition('DataError: ')[2] or last) from None
            xb = Inputs(xb) if INPUTS is not None else xb
            yb = Inputs(yb) if isinstance(yb, (tuple, list)) else yb
            xb = as_input(xb.to(self.device, non_blocking=True))
            yield xb, batch_targets(xb, yb.to(self.device, non_blocking=True))


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
    return all_samples(Samples(data, steps, seed))


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
