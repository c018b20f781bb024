"""Legal, unique Python identifiers for the user's names (torch.fx's _Namespace idea).

A ``.model`` name is already an ASCII identifier (the grammar allows nothing
else).  Here it is kept out of Python's keywords, the builtins, and the
attributes every ``nn.Module`` has, so no generated attribute or variable can
shadow anything: such names get a trailing underscore.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys

# Attributes and methods of torch.nn.Module (torch 2.x), written out so that
# naming never imports torch; an attribute with one of these names would
# break the module.
NN_MODULE_ATTRS = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
named_parameters parameters register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory smart_to state_dict to to_empty train training type
xpu zero_grad self super torch nn F math example_inputs init_weights
""".split())
# (init_weights is the method graphc generates for an init section.)

# Every name the generated training script binds at its top level.  The model class is
# imported into that script, so it must not take one of these (a model named ``json`` or
# ``main`` would replace the module or function of that name).  A test compares this set
# with the names bound by generated scripts of every data kind.
# The GAN script (templates/train/gan.py.tmpl) needs no such set: it imports its models' module
# under one private alias and reaches the classes as its attributes, so no name of a .model file
# is a name of that script (tests/test_gan.py runs one whose models are named like its functions).
TRAIN_SCRIPT_NAMES = frozenset("""
argparse json math os random sys time nullcontext Path torch dist nn
EPOCHS BATCH_SIZE LR SEED VAL_SPLIT NORMALIZE CLIP_GRAD_NORM WARMUP_EPOCHS EARLY_STOPPING
EARLY_STOPPING_METRIC DEVICE PRECISION TASK NUM_CLASSES INPUT_SHAPE OUTPUT_SHAPE
parse_args DataError load_data split check_data Batches make_loss make_optimizer make_scheduler
targets_for save_atomic load_checkpoint unwrap pick_device main
signal timedelta NONFINITE_LOSS one_line copy_atomic load_model_state lock_run_dir json_line
interrupted leave warnings INPUT_DTYPE ID_LIMIT METRICS BINARY_THRESHOLD COLUMNS MAXIMIZED SHORT
as_input metric_size metric_sums auc summarize gather evaluate replan read_data_file run_eval
summarize_or_none IGNORE_INDEX INPUTS Inputs TARGET_INPUT TARGET_RANGE TARGET_SHAPE check_features
check_positions forward scores_for target_input DATA_INFO run_sample
TERMS TARGET_SLOTS HEADS HEAD maximized as_float compute_loss TermsLoss head_targets as_labels check_heads
memory_batches stream_batches load_items make_transforms data_file_items ImageFiles Items
split_items Samples EpochSampler as_targets Loader check_first measure_stats stream_eval_data
NUM_WORKERS PREFETCH_FACTOR PERSISTENT_WORKERS
SAMPLE_INPUTS SAMPLE_TARGETS TUPLE_TARGETS TARGET_VALUES split_sample sample_tuple stack_samples batch_targets all_samples
IMAGE_SUFFIXES read_image class_index note_ignored sample_seed sample_tensor reason eval_batches checkpoint_model eval_report
BLOCKS STRATEGY ACTIVATION_CHECKPOINTING load_weights outermost_blocks checkpoint_blocks shard_model
is_sharded save_shards load_shards prune_shards sync_buffers
run_predict OUTPUT_NAMES save_npz
PRETRAINED PRETRAINED_STRICT PRETRAINED_RENAME LR_GROUPS UNFREEZE_AT SAFETENSORS_DTYPES read_safetensors
read_weights rename_key load_pretrained param_groups per_group unfreeze stdout_closed
read_shards_whole tied_keys fill_ties
""".split())

# Packages that generated code imports, directly or through torch, numpy, scikit-learn,
# Pillow, tqdm, matplotlib, tensorboard and torch.compile, by their top-level name: a
# generated module must not be named like one of them or like a standard-library module
# (the script's folder comes first on sys.path, so a ``random.py`` or ``sympy.py`` beside
# the training script would replace that module for it and for torch).  A test imports
# them all and compares what is loaded with this set.
IMPORTED_PACKAGES = frozenset("""
torch torchgen functorch triton nvidia numpy sklearn scipy joblib threadpoolctl PIL tqdm matplotlib
mpl_toolkits contourpy cycler dateutil fontTools kiwisolver packaging pyparsing six narwhals
cloudpickle cython_runtime typing_extensions sympy mpmath networkx jinja2 markupsafe filelock fsspec
setuptools pkg_resources tensorboard google grpc absl markdown werkzeug
""".split())

RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) \
    | NN_MODULE_ATTRS

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def legal(name: str) -> str:
    """``name`` as a safe identifier: ASCII, not reserved, not private."""
    if not _IDENT.match(name):
        name = re.sub(r"[^A-Za-z0-9_]", "_", name) or "v"
        if name[0].isdigit():
            name = "v" + name
    if name.startswith("_"):
        name = "v" + name
    while name in RESERVED:
        name += "_"
    return name


def module_name(stem: str) -> str:
    """A generated module's name for a ``.model`` file's stem: a legal identifier that
    shadows no standard-library module and no package the generated code imports."""
    name = legal(re.sub(r"[^A-Za-z0-9_]", "_", stem) or "model")
    while name in sys.stdlib_module_names or name in IMPORTED_PACKAGES:
        name += "_"
    return name


def snake(kind: str) -> str:
    """``BatchNorm2d`` -> ``batch_norm2d``; ``ReLU`` -> ``relu``; ``LeakyReLU`` -> ``leaky_relu``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", kind).lower()


class Namespace:
    """Hands out unique legal names: ``relu``, ``relu_1``, ``relu_2``..."""

    def __init__(self, taken=()):
        self.taken: set[str] = set(taken)
        self._next: dict[str, int] = {}  # base -> the next suffix to try (keeps fresh() O(1))

    def reserve(self, name: str) -> None:
        self.taken.add(name)

    def fresh(self, base: str) -> str:
        base = legal(base)
        if base not in self.taken:
            self.taken.add(base)
            return base
        i = self._next.get(base, 1)
        while f"{base}_{i}" in self.taken:
            i += 1
        self._next[base] = i + 1
        self.taken.add(f"{base}_{i}")
        return f"{base}_{i}"


def label_clash(name: str) -> tuple[str, str] | None:
    """(message, hint) when a label cannot name its module as written; None when it can.

    A label names a module attribute of the generated class, so it is a ``state_dict`` key
    (``init_weights.weight``): renaming it, as :func:`legal` renames plain values, would
    change the keys the user wrote.  A label that :func:`legal` would change is therefore an
    error (graphc.lower calls this for each label, with the ``reserved-name`` code)."""
    if legal(name) == name:
        return None
    if name in NN_MODULE_ATTRS:
        why = "an attribute every nn.Module has" if name not in _GENERATED_NAMES else \
            "a name the generated code uses"
    elif keyword.iskeyword(name) or keyword.issoftkeyword(name):
        why = "a Python keyword"
    elif name in dir(builtins):
        why = "a Python builtin, which the generated forward may call"
    else:
        why = "not a public Python name"
    return (f"label '{name}' would be the module attribute and state_dict key '{name}', but '{name}' is "
            f"{why}", f"rename the label, e.g. '{name.lstrip('_') or 'layer'}_layer'")


# names in NN_MODULE_ATTRS that are not nn.Module's: what the generated module itself binds
_GENERATED_NAMES = frozenset("self super torch nn F math example_inputs init_weights".split())
