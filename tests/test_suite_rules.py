"""Rules about the test suite itself, so that ``make test`` stays correct as tests are added."""
import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: text in a test's body that means it starts processes that wait on each other over sockets
MULTIPROCESS = ("distributed.run", "MASTER_PORT", "torchrun(", "init_process_group")


def _marks(fn: ast.FunctionDef) -> set[str]:
    names = set()
    for dec in fn.decorator_list:
        node = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "pytest" \
                and node.value.attr == "mark":
            names.add(node.attr)
    return names


def test_every_multiprocess_test_is_marked_serial():
    """``make test`` runs the suite on every core, then the ``serial`` tests alone: a torchrun or gloo
    test left in the parallel pass can time out, or abort, while other tests load the CPUs."""
    unmarked = []
    for path in sorted(TESTS.rglob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        for fn in ast.walk(ast.parse(text)):
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                body = ast.get_source_segment(text, fn) or ""
                if any(m in body for m in MULTIPROCESS) and "serial" not in _marks(fn):
                    unmarked.append(f"{path.relative_to(TESTS)}::{fn.name}")
    assert not unmarked, "mark these @pytest.mark.serial: " + ", ".join(unmarked)
