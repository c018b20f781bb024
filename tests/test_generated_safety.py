"""Generated code is safe whatever a .model file says, and names never break it.

Run for real: the generated module is imported and built, the training script is run with
Python, and a payload that would leave a marker file must leave none.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_graphc

from graphc import pyfmt
from graphc.api import compile_source
from graphc.names import IMPORTED_PACKAGES, TRAIN_SCRIPT_NAMES, module_name

torch = pytest.importorskip("torch")


def _payload(marker: Path, quote: str) -> str:
    """Text that runs code if it ever escapes its literal: it writes ``marker``."""
    code = f"open({str(marker)!r}, 'w').write('x')"
    return f"{quote}+__import__('builtins').exec({code!r})+{quote}"


def _model_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


ROUTES = """block Head(width=8, tag={default}) {{
    input h
    out = h -> Linear(width)
    output out
}}
model Net {{
    input x: [B, 4]
    y = x -> head: Head() -> Linear(2)
    output y
    train {{
        data = csv({path}, target="t")
        loss = MSELoss()
        optimizer = SGD(lr=0.1)
    }}
}}
"""


@pytest.mark.parametrize("quote", ['"""', "'''", '"', "'", '\\"""'])
def test_the_three_injection_routes_run_nothing(tmp_path, quote):
    """A data set path, a block default and the file's own name, each carrying a payload:
    the module is imported and built, the script's --help runs; no marker appears, and the
    texts reach the generated code as the exact strings."""
    marker = tmp_path / "marker"
    text = _payload(marker, quote)
    src = ROUTES.format(default=_model_string(text), path=_model_string(text + ".csv"))
    name = f"net{quote}{text}".replace("/", "_")  # a file name cannot hold a slash
    model = tmp_path / f"{name}.model"
    model.write_text(src)
    out = tmp_path / "gen"
    proc = run_graphc("build", model, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(out.glob("*.py"))
    assert len(files) == 2
    for f in files:
        tree = ast.parse(f.read_text())
        doc = ast.get_docstring(tree, clean=False)
        assert f"{name}.model" in doc  # the file's name, exactly, as text
    strings = {n.value for f in files for n in ast.walk(ast.parse(f.read_text()))
               if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert text in strings and text + ".csv" in strings
    script = next(f for f in files if f.name.startswith("train_"))
    help_ = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0, help_.stderr
    comp = compile_source(src, str(model))
    m = comp.to_module()
    assert m(torch.randn(2, 4)).shape == (2, 2)
    assert not marker.exists()


def test_text_escapes_exactly_what_could_change_the_file():
    for s in ['plain text × é 中文', 'a"b', "a\\b", 'x"""y', "nl\nhere", "nul\x00", "\u2028", "\ud800",
              "\\U0001F600", "\\N{DASH}", "tab\t", "\x7f", "\U0001F600"]:
        t = pyfmt.text(s)
        assert "\n" not in t and "\r" not in t and "\x00" not in t and '"' not in t.replace('\\"', "")
        # as a docstring, a comment's text or a "..." literal, it means exactly s
        assert ast.literal_eval(f'"""{t}"""') == s
        assert ast.literal_eval(f'"{t}"') == s
        compile(f"x = 1  # {t}\ny = 2\n", "<t>", "exec")
    assert pyfmt.text("plain text × é") == "plain text × é"  # readable text stays as it is


DIGITS = """model json {
    input image: [B, 1, 8, 8]
    y = image -> Flatten -> hidden: Linear(32) -> ReLU -> main: Linear(10)
    output y
    init { Linear = xavier_uniform() }
    train {
        data = digits()
        loss = CrossEntropyLoss()
        optimizer = AdamW(lr=0.01)
        epochs = 1
    }
}
"""


def test_names_that_collide_with_python_train_for_real(tmp_path):
    """A file named random.model, a model named json, a layer labelled main: the generated
    module is not random.py (it would replace the standard module for the script), the class
    is not json (the script's json.dumps), the label main is not the script's main(); and the
    model trains.  (A label init_weights is an error: tests/test_label_names.py.)"""
    model = tmp_path / "random.model"
    model.write_text(DIGITS)
    out = tmp_path / "run"
    proc = run_graphc("train", model, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "random_.py").exists() and (out / "train_random_.py").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    state = torch.load(out / "last.pt", weights_only=True)["model"]
    assert {"hidden.weight", "main.weight"} <= set(state)


def test_windows_path_builds_and_fails_clearly(tmp_path):
    model = tmp_path / "net.model"
    model.write_text('model Net {\n  input x: [B, 3]\n  y = x -> Linear(2)\n  output y\n  train {\n'
                     '    data = csv("C:\\\\Users\\\\me\\\\d.csv", target="t")\n'
                     '    loss = CrossEntropyLoss()\n    optimizer = SGD(lr=0.1)\n  }\n}\n')
    proc = run_graphc("build", model, "-o", tmp_path / "gen")
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "gen" / "train_net.py"
    assert "'C:\\\\Users\\\\me\\\\d.csv'" in script.read_text()
    run = subprocess.run([sys.executable, str(script), "--out", tmp_path / "out"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "C:\\Users\\me\\d.csv" in run.stderr and "Traceback" not in run.stderr


def _top_level_names(code: str) -> set[str]:
    out = set()
    for st in ast.parse(code).body:
        if isinstance(st, (ast.FunctionDef, ast.ClassDef)):
            out.add(st.name)
        elif isinstance(st, ast.Assign):
            out |= {n.id for t in st.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in st.names}
    return out


DATA_KINDS = ['digits()', 'csv("d.csv")', 'npz("d.npz")', 'pt("d.pt")', 'image_folder("imgs", size=(2, 2))']


def test_reserved_names_are_exactly_what_generated_scripts_bind():
    """TRAIN_SCRIPT_NAMES is written out: it must be exactly the public names that the
    generated scripts of every data kind bind (no more, or a name is renamed for nothing)."""
    bound = set()
    for data in DATA_KINDS:
        code, _ = _script_and_module(data)
        bound |= {n for n in _top_level_names(code) if not n.startswith("_")} - {"Zz"}
    assert bound == TRAIN_SCRIPT_NAMES, (sorted(bound - TRAIN_SCRIPT_NAMES), sorted(TRAIN_SCRIPT_NAMES - bound))


def _script_and_module(data: str) -> tuple[str, str]:
    shape = "[B, 3, 2, 2]" if "image" in data else "[B, 1, 8, 8]" if "digits" in data else "[B, 4]"
    n = 10 if "digits" in data else 3
    src = (f"model Zz {{\n input x: {shape}\n y = x -> Flatten -> Linear({n})\n output y\n"
           f" train {{\n  data = {data}\n  val_data = csv(\"v.csv\")\n  loss = CrossEntropyLoss()\n"
           f"  optimizer = SGD(lr=0.1)\n  scheduler = StepLR(step_size=2)\n  warmup_epochs = 1\n }}\n}}\n")
    if "digits" in data:
        src = src.replace('  val_data = csv("v.csv")\n', "")
    comp = compile_source(src, "zz.model")
    assert comp.ok, comp.diagnostics
    return comp.train_source(), comp.python_source()


@pytest.mark.parametrize("data", DATA_KINDS)
def test_generated_code_imports_only_reserved_modules(data):
    """A generated module is never named like a module the generated code imports."""
    code, module = _script_and_module(data)
    imported = {n.split(".")[0] for node in ast.walk(ast.parse(code + module))
                for n in ([a.name for a in node.names] if isinstance(node, ast.Import) else
                          [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])}
    imported.discard("zz")
    assert imported <= set(sys.stdlib_module_names) | IMPORTED_PACKAGES, sorted(imported)


@pytest.mark.parametrize("stem", ["random", "json", "torch", "numpy", "csv", "argparse", "my-net", "3d", "class"])
def test_module_names_shadow_nothing(stem):
    name = module_name(stem)
    assert name.isidentifier() and name not in sys.stdlib_module_names and name not in IMPORTED_PACKAGES
    import keyword

    assert not keyword.iskeyword(name)


@pytest.mark.parametrize("path", ['a\x00b.model', 'x\ud800.model', 'q"""\n\\U.model', "C:\\Users\\me\\net.model"])
def test_to_module_takes_any_source_name(path):
    """compile(...).to_module() labels the code with the source's name: any name works."""
    comp = compile_source("model Net {\n input x: [B, 4]\n y = x -> Linear(2)\n output y\n}\n", path)
    assert comp.to_module()(torch.randn(3, 4)).shape == (3, 2)


def test_reserved_packages_cover_what_torch_and_the_script_load():
    """Every package loaded by what generated code imports (torch, torch.distributed, the
    data set readers, tqdm, matplotlib, torch.compile's machinery) is reserved, so no
    generated module beside the script can replace one of them."""
    code = ("import sys, torch, torch.distributed, torch.nn.parallel, numpy, tqdm\n"
            "for m in ('sklearn.datasets', 'PIL.Image', 'matplotlib.pyplot', 'torch._dynamo',\n"
            "          'torch._inductor.compile_fx', 'torch.utils.tensorboard'):\n"
            "    try:\n"
            "        __import__(m)\n"
            "    except ImportError:\n"
            "        pass\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    loaded = {m for m in proc.stdout.split() if not m.startswith("_")}
    missing = loaded - set(sys.stdlib_module_names) - IMPORTED_PACKAGES
    assert not missing, f"add to graphc.names.IMPORTED_PACKAGES: {sorted(missing)}"


@pytest.mark.parametrize("name", ["a%(prog)s%(foo)s.model", "50%.model", "%%.model", "m%(prog"])
def test_percent_in_the_file_name_shows_in_help(tmp_path, name):
    """argparse %-formats a description holding '%(prog)': the script's --help still works
    and shows the file's name as it is."""
    comp = compile_source(DIGITS, name)  # "m%(prog": "%(prog)" forms with the description's bracket
    out = tmp_path / "gen"
    out.mkdir()
    (out / f"{comp.module_stem}.py").write_text(comp.python_source())
    script = out / f"train_{comp.module_stem}.py"
    script.write_text(comp.train_source())
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"({name})" in " ".join(proc.stdout.split())
