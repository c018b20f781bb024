"""Every registered transform against a reference formula, through the code graphc emits.

The registry drives the test: each sample of each record is built from the script's own
class source (``code`` and ``build``), run on a random image of the sample's shape, and
compared with ``REFERENCES[name]``, written here without graphc's code (PIL for the
resize; slicing, flips and the blend formulas for the rest).  A sample marked ``rejects``
must be refused by the static check and raise in the emitted code.
"""

import colorsys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from graphc.components import registry  # noqa: E402
from graphc.components.transforms import Image, pipeline, script_code  # noqa: E402

TRANSFORMS = registry("transform")


class DataError(Exception):
    pass


def _made(rec, params):
    ns = {"torch": torch, "DataError": DataError}
    exec(compile("\n".join(script_code([(rec, params)])), f"<{rec.name}>", "exec"), ns)
    return eval(rec.build(params), ns)


def _cases():
    return [(name, i, s) for name, rec in TRANSFORMS.items() for i, s in enumerate(rec.samples)]


# ------------------------------------------------------------------ references
def ref_resize(p, x, g):
    """PIL's bilinear resize of each channel (antialiased when shrinking, as PIL always is)."""
    from PIL import Image as PILImage

    c, h, w = x.shape
    if isinstance(p.size, int):
        if h <= w:
            size = (p.size, int(p.size * w / h))
        else:
            size = (int(p.size * h / w), p.size)
    else:
        size = tuple(p.size)
    chans = [np.asarray(PILImage.fromarray(x[i].numpy().astype(np.float32), mode="F").resize(
        (size[1], size[0]), PILImage.BILINEAR)) for i in range(c)]
    return torch.from_numpy(np.stack(chans)), (None if p.antialias or size[0] >= h else 0.35)


def ref_center_crop(p, x, g):
    th, tw = (p.size, p.size) if isinstance(p.size, int) else p.size
    c, h, w = x.shape
    canvas = np.zeros((c, max(h, th), max(w, tw)), np.float32)
    oh, ow = (max(th - h, 0)) // 2, (max(tw - w, 0)) // 2
    canvas[:, oh:oh + h, ow:ow + w] = x.numpy()
    H, W = canvas.shape[1:]
    top, left = int(round((H - th) / 2)), int(round((W - tw) / 2))
    return torch.from_numpy(canvas[:, top:top + th, left:left + tw]), None


def ref_random_crop(p, x, out):
    """Not one value: the output must be one window of the padded image (checked below)."""
    th, tw = (p.size, p.size) if isinstance(p.size, int) else p.size
    pw, ph = (p.padding, p.padding) if isinstance(p.padding, int) else p.padding
    mode = {"constant": "constant", "edge": "edge", "reflect": "reflect"}[p.padding_mode]
    a = x.numpy()
    pad = ((0, 0), (ph, ph), (pw, pw))
    a = np.pad(a, pad, mode=mode, **({"constant_values": p.fill} if mode == "constant" else {}))
    if p.pad_if_needed:
        dh, dw = max(th - a.shape[1], 0), max(tw - a.shape[2], 0)
        a = np.pad(a, ((0, 0), (dh, dh), (dw, dw)), mode=mode, **({"constant_values": p.fill}
                                                                    if mode == "constant" else {}))
    windows = [a[:, i:i + th, j:j + tw] for i in range(a.shape[1] - th + 1) for j in range(a.shape[2] - tw + 1)]
    return windows


def _gray(a):
    return a if a.shape[0] == 1 else (0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2])[None]


def hue_by_colorsys(a, shift):
    """Python's colorsys, pixel by pixel: RGB to HSV, the hue plus shift modulo 1, back to RGB."""
    out = np.empty_like(a)
    for i in range(a.shape[1]):
        for j in range(a.shape[2]):
            h, s, v = colorsys.rgb_to_hsv(*a[:, i, j])
            out[:, i, j] = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    return out


def ref_jitter(p, x, g):
    """torchvision's formulas: brightness x*f, contrast blend with the grey mean, saturation
    blend with the grey image, the factors drawn in that order, uniform in [1 - v, 1 + v];
    then the hue turned by a fraction drawn uniform in [-hue, hue] (or (min, max)), by colorsys."""
    a = x.numpy().astype(np.float64)
    for v, how in ((p.brightness, "b"), (p.contrast, "c"), (p.saturation, "s")):
        if not v or (how == "s" and a.shape[0] != 3):
            continue
        f = 1 + v * (2 * float(torch.rand((), generator=g)) - 1)
        assert 1 - v <= f <= 1 + v
        if how == "b":
            a = np.clip(a * f, 0, 1)
        elif how == "c":
            a = np.clip(f * a + (1 - f) * _gray(a).mean(), 0, 1)
        else:
            a = np.clip(f * a + (1 - f) * _gray(a), 0, 1)
    lo, hi = (-p.hue, p.hue) if isinstance(p.hue, float) else p.hue
    if (lo, hi) != (0, 0):
        shift = lo + (hi - lo) * float(torch.rand((), generator=g))
        a = hue_by_colorsys(a, shift)
    return torch.from_numpy(a.astype(np.float32)), None


def ref_normalize(p, x, g):
    if p.mean is None:
        return x, None
    m = np.asarray(p.mean, np.float32).reshape(-1, 1, 1)
    s = np.asarray(p.std, np.float32).reshape(-1, 1, 1)
    return torch.from_numpy((x.numpy() - m) / s), None


REFERENCES = {"Resize": ref_resize, "CenterCrop": ref_center_crop, "RandomCrop": ref_random_crop,
              "ColorJitter": ref_jitter, "Normalize": ref_normalize}


def test_every_transform_has_a_reference():
    assert sorted(TRANSFORMS) == sorted([*REFERENCES, "RandomHorizontalFlip", "ToTensor"])


@pytest.mark.parametrize("name,i,sample", _cases())
def test_transform_sample_against_its_reference(name, i, sample):
    rec = TRANSFORMS[name]
    p = rec.Params.model_validate(dict(sample.params))
    static, problems = pipeline(Image(sample.shape), [(rec, p)])
    problems += [(0, m, h) for m, h in rec.problems(p)]
    if sample.rejects:
        assert problems, f"{name} {sample.params}: graphc accepts what must fail"
        with pytest.raises((DataError, RuntimeError, ValueError)):
            _made(rec, p)(torch.rand(sample.shape), torch.Generator().manual_seed(0))
        return
    assert not problems, problems
    t = _made(rec, p)
    x = torch.rand(sample.shape)
    if name == "ToTensor":  # from an 8-bit H x W x C array, as PIL gives
        c, h, w = sample.shape
        a = (np.arange(h * w * c) * 37 % 256).astype(np.uint8).reshape(h, w, c)
        got = t(a if c > 1 else a[:, :, 0], None)
        want = torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / 255)
        assert got.dtype == torch.float32 and torch.allclose(got, want)
        assert tuple(got.shape) == static.shape
        return
    got = t(x.clone(), torch.Generator().manual_seed(7))
    assert got.dtype == torch.float32
    assert tuple(got.shape) == static.shape, (got.shape, static.shape)
    if name == "RandomHorizontalFlip":
        assert torch.equal(got, x.flip(-1)) or torch.equal(got, x)
        if p.p in (0.0, 1.0):
            assert torch.equal(got, x.flip(-1) if p.p == 1 else x)
        flips = sum(bool(torch.equal(t(x, torch.Generator().manual_seed(s)), x.flip(-1))) for s in range(200))
        assert abs(flips / 200 - p.p) < 0.12
        return
    if name == "RandomCrop":
        windows = REFERENCES[name](p, x, None)
        assert any(np.allclose(got.numpy(), w) for w in windows)
        seen = {tuple(t(x, torch.Generator().manual_seed(s)).flatten()[:6].tolist()) for s in range(40)}
        assert len(windows) == 1 or len(seen) > 1  # it does move
        return
    want, tol = REFERENCES[name](p, x, torch.Generator().manual_seed(7))
    if tol is None:
        assert torch.allclose(got, want, atol=2e-3), (got - want).abs().max()
    else:  # no antialiasing while shrinking: near PIL's, not equal
        assert (got - want).abs().mean() < tol


def test_same_generator_same_augmentation():
    rec = TRANSFORMS["RandomCrop"]
    t = _made(rec, rec.Params(size=4, padding=2))
    x = torch.rand(3, 6, 6)
    a = t(x, torch.Generator().manual_seed(3))
    b = t(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_static_resize_shape_keeps_aspect_ratio():
    rec = TRANSFORMS["Resize"]
    img, problems = pipeline(Image((3, 300, 400)), [(rec, rec.Params(size=224))])
    assert img.shape == (3, 224, 298) and not problems
    got = _made(rec, rec.Params(size=224))(torch.rand(3, 300, 400), None)
    assert tuple(got.shape) == img.shape


@pytest.mark.parametrize("shift", [0.0, 0.1, -0.1, 0.25, -0.3, 0.5, -0.5, 1 / 3])
def test_hue_against_colorsys(shift):
    """ColorJitter(hue=(f, f)) turns every hue by exactly f: colorsys, pixel by pixel, to 1e-5, on
    random colours and on the pixels where the formulas branch: greys (no hue), black, white,
    the primaries and secondaries (a maximum shared by two channels), near-greys."""
    rec = TRANSFORMS["ColorJitter"]
    special = [(0, 0, 0), (1, 1, 1), (0.5, 0.5, 0.5), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1),
               (1, 0, 1), (0.2, 0.2, 0.9), (0.9, 0.9, 0.1), (0.3, 0.3, 0.30001), (1, 0.5, 0), (0.25, 0, 0.5)]
    x = torch.cat([torch.tensor(special, dtype=torch.float32).T.reshape(3, 2, 7),
                   torch.rand(3, 2, 7, generator=torch.Generator().manual_seed(5))], dim=1)
    got = _made(rec, rec.Params(hue=(shift, shift)))(x.clone(), torch.Generator().manual_seed(0))
    want = hue_by_colorsys(x.numpy().astype(np.float64), shift)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    if shift in (0.0, 1.0):
        assert torch.allclose(got, x, atol=1e-6)
    grey = x[0] == x[1]
    assert torch.allclose(got[:, grey & (x[1] == x[2])], x[:, grey & (x[1] == x[2])])  # greys keep their value


def test_hue_draws_within_its_range_from_the_generator():
    rec = TRANSFORMS["ColorJitter"]
    t = _made(rec, rec.Params(hue=0.2))
    x = torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(2))
    a, b = t(x, torch.Generator().manual_seed(9)), t(x, torch.Generator().manual_seed(9))
    assert torch.equal(a, b)  # the same generator, the same turn
    turns = {round(float((t(x, torch.Generator().manual_seed(s)) * torch.arange(27).reshape(3, 3, 3)).sum()), 4)
             for s in range(20)}
    assert len(turns) > 10
    for s in range(20):
        shift = 0.4 * float(torch.rand((), generator=torch.Generator().manual_seed(s))) - 0.2
        np.testing.assert_allclose(t(x, torch.Generator().manual_seed(s)).numpy(),
                                   hue_by_colorsys(x.numpy().astype(np.float64), shift), atol=1e-5)


@pytest.mark.parametrize("args,words", [
    ("hue=0.6", "expected number in [0, 0.5] or (number, number)"),
    ("hue=-0.1", "expected number in [0, 0.5] or (number, number)"),
    ("hue=(-0.6, 0.1)", "must be a (min, max) with -0.5 <= min <= max <= 0.5"),
    ("hue=(0.2, 0.1)", "must be a (min, max) with -0.5 <= min <= max <= 0.5"),
])
def test_hue_out_of_range_is_an_error_at_the_line(args, words):
    from graphc.api import compile_source

    src = f"""model M {{
    input x: [B, 3, 4, 4]
    y = x -> Flatten -> Linear(2)
    output y
    train {{
        data = image_folder("imgs", size=(4, 4))
        augment = [ColorJitter({args})]
        loss = CrossEntropyLoss()
    }}
}}
"""
    errs = [d for d in compile_source(src, "m.model").diagnostics if d.severity == "error"]
    assert len(errs) == 1 and errs[0].span.line == 7, errs
    assert words in f"{errs[0].message} {errs[0].hint}", errs[0]


def test_hue_of_grayscale_images_is_an_error_with_a_fix():
    """torchvision leaves a one-channel image as it is; graphc says so at the line instead."""
    from graphc.api import compile_source

    src = """model M {
    input x: [B, 1, 4, 4]
    y = x -> Flatten -> Linear(2)
    output y
    train {
        data = image_folder("imgs", size=(4, 4), grayscale=true)
        augment = [ColorJitter(brightness=0.2, hue=0.1)]
        loss = CrossEntropyLoss()
    }
}
"""
    errs = [d for d in compile_source(src, "m.model").diagnostics if d.severity == "error"]
    assert [(e.span.line, e.span.col) for e in errs] == [(7, 20)], errs
    assert "changes the hue of colour images, but the samples have 1 channel" in errs[0].message
    assert errs[0].hint == "drop hue"


@pytest.mark.parametrize("augment,errors", [
    ("[RandomHorizontalFlip(), Normalize()]", [(7, 44)]),
    ("[RandomHorizontalFlip(), Normalize(mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))]", []),
])
def test_normalize_without_statistics_in_augment_is_an_error(augment, errors):
    """The statistics are measured for transform's Normalize() only: in augment it left the samples
    as they were (the script's _Normalize returns x while it has no statistics), without a word."""
    from graphc.api import compile_source

    src = f"""model M {{
    input x: [B, 3, 4, 4]
    y = x -> Flatten -> Linear(2)
    output y
    train {{
        data = image_folder("imgs", size=(4, 4))
        augment = {augment}
        loss = CrossEntropyLoss()
    }}
}}
"""
    errs = [d for d in compile_source(src, "m.model").diagnostics if d.severity == "error"]
    assert [(e.span.line, e.span.col) for e in errs] == errors, errs
    if errs:
        assert "in 'augment' it would do nothing" in errs[0].message
        assert errs[0].hint.startswith("move Normalize() to the end of transform")
