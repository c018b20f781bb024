"""Transforms of images: ``transform = [Resize(36), CenterCrop(32)]``, ``augment = [...]``.

A transform is a record like every other component: its parameter schema, the rules the
schema cannot say (``problems``), what it does to one sample's shape and dtype (``apply``,
so that the pipeline's output is checked against the model's input before anything
runs), and the class the training script holds for it (``code``, plain torch: no
torchvision).  In the script every transform is called as ``t(x, g)`` on one sample
``x`` of shape (C, H, W) with ``g`` a ``torch.Generator`` seeded from the run's seed,
the epoch and the sample's index, so a random transform draws the same numbers whatever
the number of worker processes, and again after ``--resume``.

``transform`` is applied to every sample (training, evaluation and prediction); ``augment``
only to training samples, before ``transform``.  The registry test (tests/test_transforms.py)
runs every sample of every record through its emitted code and compares the result with
a reference formula written independently of it (PIL for the resize, colorsys for the hue).

A pipeline as a whole (its static check against the model's input, the train section's
lists bound to these records) is in transforms_pipeline.py; the evaluation transforms at
``--predict`` are in transforms_predict.py.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from graphc import pyfmt
from graphc.components.base import Component, NonNeg, NonNegInt, Params, PosInt, Sample, register
from graphc.components.transforms_pipeline import (  # noqa: F401 - the lists' functions, used from here
    Image,
    bind_list,
    build_list,
    check_lists,
    describe,
    pipeline,
    script_code,
)
from graphc.params import Field

Size = PosInt | tuple[PosInt, PosInt]


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


class Transform(Component):
    kind = "transform"
    #: the class the script holds for it (its name in the script) and its source
    script_name: ClassVar[str]
    code: ClassVar[str]
    random: ClassVar[bool] = False  # draws from the generator: for augmentation
    #: what the registry test compares it with (tests/test_transforms.py holds the formula)
    reference: ClassVar[str] = ""

    def build(self, p: Params) -> str:
        """The expression that makes the script's object, every value a literal."""
        return f"{self.script_name}({', '.join(self.kwargs(p))})"

    def apply(self, p: Params, img: Image) -> tuple[Image, tuple[str, str | None] | None]:
        """The sample it gives for ``img``, and (message, hint) when it cannot take ``img``."""
        return img, None

    def needs_float(self) -> bool:
        return True


def _hw(img: Image):
    return (None, None) if img.shape is None else img.shape[1:]


def _channels(img: Image):
    return None if img.shape is None else img.shape[0]


RESIZE = '''
class _Resize:
    """The shorter side to size (an int; the other side keeps the aspect ratio), or exactly
    (height, width): bilinear, with antialiasing when shrinking (as PIL and torchvision)."""

    def __init__(self, size, antialias=True):
        self.size, self.antialias = size, antialias

    def __call__(self, x, g):
        h, w = x.shape[-2:]
        if isinstance(self.size, int):
            short, long = (h, w) if h <= w else (w, h)
            new = (self.size, int(self.size * long / short))
            size = new if h <= w else new[::-1]
        else:
            size = tuple(self.size)
        if (h, w) == size:
            return x
        return torch.nn.functional.interpolate(x[None], size=size, mode='bilinear', align_corners=False,
                                               antialias=self.antialias)[0]
'''


@register
class Resize(Transform):
    """Resize: an int sets the shorter side (the other keeps the aspect ratio), (height, width) sets
    both; bilinear, antialiased when shrinking."""

    script_name, code, reference = "_Resize", RESIZE, "PIL.Image.resize(BILINEAR)"
    samples = (Sample({"size": 6}, (3, 9, 12)), Sample({"size": (5, 7), "antialias": False}, (1, 10, 4)),
               Sample({"size": 16}, (3, 8, 10)))
    positional = ("size",)

    class Params(Params):
        size: Size
        antialias: bool = True

    def apply(self, p, img):
        if isinstance(p.size, tuple):
            h, w = p.size
        else:
            ih, iw = _hw(img)
            if ih is None or iw is None:
                return Image((_channels(img), None, None), "float32", p.size), None
            elif ih <= iw:
                h, w = p.size, int(p.size * iw / ih)
            else:
                h, w = int(p.size * ih / iw), p.size
        return Image((_channels(img), h, w), "float32"), None


CENTER_CROP = '''
class _CenterCrop:
    """The centre (height, width) of the image, padded with zeros first where it is smaller."""

    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, x, g):
        th, tw = self.size
        h, w = x.shape[-2:]
        if th > h or tw > w:
            ph, pw = max(th - h, 0), max(tw - w, 0)
            x = torch.nn.functional.pad(x, (pw // 2, (pw + 1) // 2, ph // 2, (ph + 1) // 2))
            h, w = x.shape[-2:]
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return x[..., top:top + th, left:left + tw]
'''


@register
class CenterCrop(Transform):
    """The centre of the image, of size (an int: a square); zeros pad an image smaller than that."""

    script_name, code, reference = "_CenterCrop", CENTER_CROP, "slicing at round((H - h) / 2)"
    samples = (Sample({"size": 4}, (3, 7, 9)), Sample({"size": (2, 5)}, (1, 6, 6)), Sample({"size": 5}, (3, 3, 4)))
    positional = ("size",)

    class Params(Params):
        size: Size

    def apply(self, p, img):
        h, w = _pair(p.size)
        return Image((_channels(img), h, w), img.dtype), None

    def needs_float(self):
        return False


RANDOM_CROP = '''
class _RandomCrop:
    """A (height, width) window at a random place, after padding every side by padding."""

    def __init__(self, size, padding=0, pad_if_needed=False, fill=0.0, padding_mode='constant'):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding = (padding, padding) if isinstance(padding, int) else tuple(padding)  # (left/right, top/bottom)
        self.pad_if_needed, self.fill = pad_if_needed, fill
        self.mode = {'constant': 'constant', 'edge': 'replicate', 'reflect': 'reflect'}[padding_mode]

    def _pad(self, x, left, right, top, bottom):
        if not (left or right or top or bottom):
            return x
        if self.mode == 'constant':
            return torch.nn.functional.pad(x, (left, right, top, bottom), value=self.fill)
        return torch.nn.functional.pad(x[None], (left, right, top, bottom), mode=self.mode)[0]

    def __call__(self, x, g):
        pw, ph = self.padding
        x = self._pad(x, pw, pw, ph, ph)
        th, tw = self.size
        h, w = x.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            dh, dw = max(th - h, 0), max(tw - w, 0)
            x = self._pad(x, dw, dw, dh, dh)
            h, w = x.shape[-2:]
        if h < th or w < tw:
            raise DataError(f'RandomCrop{self.size}: a sample of {h}x{w} (after padding) is smaller than the '
                            'crop; pass pad_if_needed=true, or resize first')
        top = int(torch.randint(0, h - th + 1, (1,), generator=g))
        left = int(torch.randint(0, w - tw + 1, (1,), generator=g))
        return x[..., top:top + th, left:left + tw]
'''


@register
class RandomCrop(Transform):
    """A window of size at a random place, after padding each side by padding (an int, or
    (left and right, top and bottom)) with fill, the edge values or their reflection."""

    script_name, code, reference, random = "_RandomCrop", RANDOM_CROP, "a window of the padded image", True
    samples = (Sample({"size": 4, "padding": 1}, (3, 5, 6)),
               Sample({"size": (3, 4), "padding_mode": "reflect", "padding": (2, 1)}, (1, 4, 5)),
               Sample({"size": 6, "pad_if_needed": True, "fill": 0.5, "padding_mode": "edge"}, (3, 4, 7)),
               Sample({"size": 8}, (3, 4, 4), rejects=True))
    positional = ("size", "padding")

    class Params(Params):
        size: Size
        padding: NonNegInt | tuple[NonNegInt, NonNegInt] = 0
        pad_if_needed: bool = False
        fill: float = 0.0
        padding_mode: Literal["constant", "edge", "reflect"] = "constant"

    def apply(self, p, img):
        th, tw = _pair(p.size)
        pw, ph = _pair(p.padding)
        h, w = _hw(img)
        if not p.pad_if_needed and h is not None and w is not None and (h + 2 * ph < th or w + 2 * pw < tw):
            return img, (f"RandomCrop({th}, {tw}) cannot cut a {th}x{tw} window from {h}x{w} samples"
                         + (f" padded to {h + 2 * ph}x{w + 2 * pw}" if ph or pw else ""),
                         "pass pad_if_needed=true, more padding, or a Resize before it")
        return Image((_channels(img), th, tw), img.dtype), None

    def needs_float(self):
        return False


FLIP = '''
class _RandomHorizontalFlip:
    """The image mirrored left to right, with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x, g):
        return x.flip(-1) if float(torch.rand((), generator=g)) < self.p else x
'''


@register
class RandomHorizontalFlip(Transform):
    """The image mirrored left to right with probability p."""

    script_name, code, reference, random = "_RandomHorizontalFlip", FLIP, "x.flip(-1) or x", True
    samples = (Sample({}, (3, 4, 5)), Sample({"p": 1.0}, (1, 3, 3)), Sample({"p": 0.0}, (1, 3, 3)))
    positional = ("p",)

    class Params(Params):
        p: Annotated[float, Field(ge=0, le=1)] = 0.5

    def needs_float(self):
        return False


JITTER = '''
class _ColorJitter:
    """Brightness, contrast and saturation each scaled by a factor drawn from [1 - v, 1 + v], then
    the hue turned by a fraction of the colour circle drawn from [-hue, hue] (or a (min, max)
    given), in that order; brightness, contrast and saturation clamp to [0, 1] (images with
    values in [0, 1])."""

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation
        self.hue = (-hue, hue) if isinstance(hue, (int, float)) else tuple(hue)

    @staticmethod
    def _factor(v, g):
        return 1.0 + v * (2.0 * float(torch.rand((), generator=g)) - 1.0)

    @staticmethod
    def _gray(x):
        if x.shape[0] == 1:
            return x
        return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]

    @staticmethod
    def _turn_hue(x, shift):
        """RGB to hue, saturation and value; the hue plus shift (modulo 1); back to RGB."""
        r, g, b = x[0], x[1], x[2]
        v, low = x.max(dim=0).values, x.min(dim=0).values
        chroma = v - low
        grey = chroma == 0
        s = chroma / torch.where(grey, torch.ones_like(v), v)
        c = torch.where(grey, torch.ones_like(chroma), chroma)
        rc, gc, bc = (v - r) / c, (v - g) / c, (v - b) / c
        h = torch.where(v == r, bc - gc, torch.where(v == g, 2.0 + rc - bc, 4.0 + gc - rc))
        h = torch.remainder(torch.remainder(h / 6.0, 1.0) + shift, 1.0) * 6.0
        sector = torch.floor(h)
        f = h - sector
        p = (v * (1.0 - s)).clamp(0, 1)
        q = (v * (1.0 - s * f)).clamp(0, 1)
        t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1)
        table = torch.stack([torch.stack(row) for row in ((v, q, p, p, t, v), (t, v, v, q, p, p), (p, p, t, v, v, q))])
        index = (sector.long() % 6).expand(3, 1, *h.shape)
        return table.gather(1, index)[:, 0]

    def __call__(self, x, g):
        if self.brightness:
            x = (x * self._factor(self.brightness, g)).clamp(0, 1)
        if self.contrast:
            f = self._factor(self.contrast, g)
            x = (f * x + (1 - f) * self._gray(x).mean()).clamp(0, 1)
        if self.saturation and x.shape[0] == 3:
            f = self._factor(self.saturation, g)
            x = (f * x + (1 - f) * self._gray(x)).clamp(0, 1)
        if self.hue != (0.0, 0.0):
            if x.shape[0] != 3:
                raise DataError(f'ColorJitter(hue=...) turns the hue of colour images, but a sample has '
                                f'{x.shape[0]} channels: drop hue')
            lo, hi = self.hue
            x = self._turn_hue(x, lo + (hi - lo) * float(torch.rand((), generator=g)))
        return x
'''


@register
class ColorJitter(Transform):
    """Brightness, contrast and saturation each scaled by a random factor in [1 - v, 1 + v], then the hue
    turned by a random fraction of the colour circle in [-hue, hue] (or in (min, max)), in that order
    (values in [0, 1], clamped); saturation and hue need three channels."""

    script_name, code, reference, random = "_ColorJitter", JITTER, "torchvision's blend formulas; colorsys", True
    samples = (Sample({"brightness": 0.4}, (3, 4, 4)), Sample({"contrast": 0.5}, (3, 4, 4)),
               Sample({"saturation": 0.6}, (3, 4, 4)), Sample({"brightness": 0.2, "contrast": 0.2}, (1, 4, 4)),
               Sample({"hue": 0.3}, (3, 5, 4)), Sample({"saturation": 0.3, "hue": (-0.5, 0.1)}, (3, 4, 4)),
               Sample({"hue": 0.5}, (3, 6, 6)), Sample({"hue": 0.2}, (1, 4, 4), rejects=True))

    class Params(Params):
        brightness: NonNeg = 0.0
        contrast: NonNeg = 0.0
        saturation: NonNeg = 0.0
        hue: Annotated[float, Field(ge=0, le=0.5)] | tuple[float, float] = 0.0

    def problems(self, p):
        if isinstance(p.hue, tuple) and not -0.5 <= p.hue[0] <= p.hue[1] <= 0.5:
            return [(f"ColorJitter's hue=({p.hue[0]}, {p.hue[1]}) must be a (min, max) with "
                     "-0.5 <= min <= max <= 0.5 (fractions of the colour circle)",
                     "e.g. hue=(-0.1, 0.1), or hue=0.1 for the same")]
        return []

    def apply(self, p, img):
        c = _channels(img)
        for what, value in (("saturation", p.saturation), ("hue", p.hue)):
            if value and value != (0.0, 0.0) and c is not None and c != 3:
                return img, (f"ColorJitter({what}={value}) changes the {what} of colour images, "
                             f"but the samples have {c} channel{'s' if c != 1 else ''}", f"drop {what}")
        return Image(img.shape, "float32", img.short), None


NORMALIZE = '''
class _Normalize:
    """(x - mean) / std per channel; with mean and std None, the training data's own statistics,
    measured when the script starts (set by set_stats)."""

    def __init__(self, mean=None, std=None):
        self.set_stats(mean, std)

    def set_stats(self, mean, std):
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        if self.std is not None and not bool((self.std > 0).all()):
            raise DataError(f'Normalize: every std must be above 0, got {self.std.flatten().tolist()}')

    def __call__(self, x, g):
        if self.mean is None:
            return x  # while its statistics are measured
        if len(self.mean) not in (1, x.shape[0]):
            raise DataError(f'Normalize has statistics for {len(self.mean)} channels, but a sample has {x.shape[0]}')
        return (x - self.mean) / self.std
'''


@register
class Normalize(Transform):
    """(x - mean) / std per channel, with the statistics given, or (both left out) the training
    data's own, measured over up to 10,000 training samples when the script starts and saved
    with the checkpoint."""

    script_name, code, reference = "_Normalize", NORMALIZE, "(x - mean) / std"
    samples = (Sample({"mean": (0.5, 0.4, 0.3), "std": (0.2, 0.25, 0.3)}, (3, 2, 3)), Sample({}, (1, 2, 2)),
               Sample({"mean": (0.5,), "std": (0.0,)}, (1, 2, 2), rejects=True))
    positional = ("mean", "std")

    class Params(Params):
        mean: tuple[float, ...] | None = None
        std: tuple[float, ...] | None = None

    def problems(self, p):
        if (p.mean is None) != (p.std is None):
            return [("Normalize takes both mean and std, or neither (the training data's own statistics)",
                     "give both, e.g. Normalize(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))")]
        if p.mean is not None and len(p.mean) != len(p.std):
            return [(f"Normalize has {len(p.mean)} means but {len(p.std)} standard deviations",
                     "give one of each per channel")]
        if p.std is not None and any(s <= 0 for s in p.std):
            return [(f"Normalize's std must be above 0, got {tuple(p.std)}", None)]
        return []

    def apply(self, p, img):
        c = _channels(img)
        if p.mean is not None and c is not None and len(p.mean) not in (1, c):
            return img, (f"Normalize has statistics for {len(p.mean)} channels, but the samples have {c}",
                         f"give {c} values of mean and of std")
        return Image(img.shape, "float32", img.short), None


TO_TENSOR = '''
class _ToTensor:
    """A PIL image, a NumPy array (H, W) or (H, W, C), or a tensor, as a float32 tensor (C, H, W);
    8-bit values are scaled to [0, 1]."""

    def __call__(self, x, g):
        if not isinstance(x, torch.Tensor):
            import numpy as np

            x = np.asarray(x)
            x = torch.from_numpy(x.copy())
            x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
        if x.dtype == torch.uint8:
            return x.float() / 255.0
        return x.float()
'''


@register
class ToTensor(Transform):
    """A PIL image, a NumPy array (H, W) or (H, W, C), or a tensor, as float32 (C, H, W), 8-bit values
    scaled to [0, 1]: first in the list for a data set of your own that gives images."""

    script_name, code, reference = "_ToTensor", TO_TENSOR, "np.asarray(image).transpose(2, 0, 1) / 255"
    samples = (Sample({}, (3, 4, 5)), Sample({}, (1, 2, 3)))

    def apply(self, p, img):
        return Image(img.shape, "float32", img.short), None

    def needs_float(self):
        return False


__all__ = ["Image", "Transform", "pipeline", "script_code", "build_list", "describe", "check_lists", "bind_list",
           "pyfmt"]
