"""The parts of the training script that ``--predict`` needs: the model's output names and
``read_features(path)``, which reads the features of new data (no targets) the way the
training data maps arrays to inputs.  Every value passes through ``pyfmt.literal``."""

from __future__ import annotations

from graphc import pyfmt
from graphc.training import TrainSpec

READ_HELPERS = '''
def _one_array(arrays, path, key):
    """The array key of an .npz (or .pt dict); a file of one array needs no key."""
    if key in arrays:
        return arrays[key]
    names = sorted(arrays.files if hasattr(arrays, "files") else arrays)
    if len(names) == 1:
        return arrays[names[0]]
    raise DataError(f"{path} has no array {key!r} for the model's input (it has {names})")


def _feature_csv(path, target):
    """A CSV's columns but the target column (when there is one), as numbers."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DataError(f"{path} is empty: it needs a header row and one row per sample")
    header, rows = rows[0], [r for r in rows[1:] if any(v.strip() for v in r)]  # blank rows, as training
    keep = [i for i, name in enumerate(header) if name != target]
    try:
        try:  # integers (token ids) stay integers
            return torch.tensor([[int(r[i]) for i in keep] for r in rows])
        except ValueError:
            return torch.tensor([[float(r[i]) for i in keep] for r in rows])
    except (ValueError, IndexError) as e:
        raise DataError(f"{path}: every value must be a number, {len(header)} per row ({e})") from None
'''

#: a folder of new images, in a script whose training data is an image folder (its streaming code
#: has read_image and IMAGE_SUFFIXES)
IMAGE_FILES = '''
def _image_files(path, size, grayscale):
    """Every image under a folder (in its subfolders too), in name order, read as the training
    read its images (read_image: resized bilinearly to size, or each as stored), and their paths."""
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    xs = [read_image(f, size, grayscale) for f in files]
    return xs, [f.relative_to(root).as_posix() for f in files]  # a list: the transforms give them one size
'''


def output_names(outputs) -> str:
    return pyfmt.literal(tuple(outputs))


def read_features(spec: TrainSpec) -> str:
    """``read_features(path)``: (x, file names or None) of --predict's --data, by its suffix."""
    d = spec.data
    fields = tuple(field for _, field, _, _, _ in spec.inputs)
    key = d.params.x if d.name in ("npz", "pt") and not fields else "x"
    target = pyfmt.literal(d.params.target) if d.name == "csv" else "'target'"
    several = bool(fields)
    lines = ["def _read_features(path):",
             '    """(features, file names or None) of --predict\'s --data: a .npz, .npy, .pt or .csv file,'
             '\n    or a folder of images when the model trained on one."""',
             "    import numpy as np",
             "",
             "    suffix = Path(path).suffix.lower()"]
    if several:
        f = pyfmt.literal(fields)
        lines += ["    if suffix in ('.npz', '.pt'):  # several inputs: one array each, as in training",
                  "        arrays = np.load(path) if suffix == '.npz' else torch.load(path, map_location='cpu', "
                  "weights_only=True)",
                  f"        for k in {f}:",
                  "            if k not in arrays:",
                  f"                raise DataError(f'{{path}} has no array {{k!r}}: the model takes one array per "
                  f"input, ' + {pyfmt.literal(', '.join(fields))})",
                  f"        return Inputs(torch.as_tensor(arrays[k]) for k in {f}), None",
                  f"    raise DataError(f'{{path}}: the model has {len(fields)} inputs; give a .npz with the "
                  f"arrays ' + {pyfmt.literal(', '.join(fields))})"]
    else:
        lines += ["    if suffix == '.npz':",
                  f"        return torch.as_tensor(_one_array(np.load(path), path, {pyfmt.literal(key)})), None",
                  "    if suffix == '.npy':",
                  "        return torch.as_tensor(np.load(path)), None",
                  "    if suffix == '.pt':",
                  "        data = torch.load(path, map_location='cpu', weights_only=True)",
                  f"        return (data if torch.is_tensor(data) else _one_array(data, path, {pyfmt.literal(key)})), "
                  "None",
                  "    if suffix == '.csv':",
                  f"        return _feature_csv(path, {target}), None" if d.name != "text_csv" else
                  f"        return {d.record.features_reader(d.params, 'path')}, None"]
        formats = "a .npz, .npy, .pt or .csv file"
        if d.name == "image_folder":
            lines += ["    if Path(path).is_dir():",
                      f"        return _image_files(path, {pyfmt.literal(d.params.size and tuple(d.params.size))}, "
                      f"{pyfmt.literal(d.params.grayscale)})"]
            formats += ", or a folder of images"
        lines.append(f'    raise DataError(f"--data {{path}}: give {formats}")')
    helpers = READ_HELPERS.strip("\n") + ("\n\n\n" + IMAGE_FILES.strip("\n") if d.name == "image_folder" else "")
    return "\n".join(lines) + "\n\n\n" + helpers


def predict_values(spec: TrainSpec, outputs) -> dict[str, str]:
    from graphc.components.transforms_predict import predict_code

    return {"OUTPUT_NAMES": output_names(outputs), "READ_FEATURES": read_features(spec),
            "PREDICT_FEATURES": predict_code(spec)}
