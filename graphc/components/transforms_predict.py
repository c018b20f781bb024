"""The evaluation transforms at prediction: ``--predict`` (and ``graphc predict``, which runs
it) sends each sample of the new data through the train section's ``transform = [...]``
(never ``augment``) exactly as validation does: the same ``Samples`` class, and the statistics
of ``Normalize()`` that the training run measured, which the checkpoint keeps
(``data_info["normalize"]``): prediction needs neither the training data nor a new
measurement.  Images of a folder keep their own sizes until the transforms fix them.

``predict_code(spec)`` is the script's ``_evaluation_steps(ckpt, path)`` (``--eval`` calls it
too, so that a checkpoint without the statistics is an error rather than data left
unnormalised) and ``_predict_features(x, ckpt, path)``: for a train section without
transforms, no steps, and the features as read (a folder's images stacked, which needs one
size).
"""

from __future__ import annotations

#: with transforms: the streaming code (make_transforms, Samples, Items) is in the script
WITH_TRANSFORMS = '''
def _evaluation_steps(ckpt, path):
    """The evaluation transforms (transform = [...], never augment) as validation applies them:
    Normalize() without statistics takes those the training run measured, saved in the checkpoint."""
    _, steps = make_transforms()
    stats = (ckpt.get("data_info") or {}).get("normalize")
    for t in steps:
        if type(t).__name__ == "_Normalize" and t.mean is None:
            if not stats:
                raise DataError(f"{path} has no statistics for Normalize() (data_info['normalize']): it was not "
                                "written by a training run of this model; train it again, or give Normalize "
                                "its mean and std")
            t.set_stats(stats["mean"], stats["std"])
    return steps


def _predict_features(x, ckpt, path):
    """--predict: each sample through the evaluation transforms, as validation sends its samples
    (the same Samples, the run's seed), then stacked; x is a tensor or a list of images."""
    samples = Samples(Items(x, torch.zeros(len(x))), _evaluation_steps(ckpt, path), ckpt.get("seed", SEED))
    out = []
    for i in range(len(samples)):
        try:
            out.append(samples[(0, i)][0])
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - a sample the transforms cannot take: any error
            raise DataError(f"sample {i} of the data, of shape {tuple(torch.as_tensor(x[i]).shape)}: the "
                            f"evaluation transforms failed: {type(e).__name__}: {one_line(e)}") from None
    shapes = sorted({tuple(o.shape) for o in out})
    if len(shapes) > 1:
        raise DataError(f"the evaluation transforms give samples of {len(shapes)} shapes ({shapes[0]} and "
                        f"{shapes[1]}): end them with CenterCrop or Resize((h, w)) to give one size")
    return torch.stack(out)
'''

WITHOUT_TRANSFORMS = '''
def _evaluation_steps(ckpt, path):
    """The evaluation transforms: none (the train section gives no transform = [...])."""
    return []


def _predict_features(x, ckpt, path):
    """--predict: the features as read (the train section gives no transforms); the images of a
    folder must then all have one size."""
    if not isinstance(x, list):
        return x
    shapes = sorted({tuple(t.shape) for t in x})
    if len(shapes) > 1:
        raise DataError(f"the images have {len(shapes)} sizes ({shapes[0]} and {shapes[1]}), and the model "
                        "trained without transforms: give images of its size, or give image_folder a size")
    return torch.stack(x)
'''


def predict_code(spec) -> str:
    """The script's ``_predict_features(x, ckpt, path)`` for the train section ``spec``."""
    return (WITH_TRANSFORMS if spec.transform else WITHOUT_TRANSFORMS).strip("\n")
