"""A fast slice of the robustness fuzzing (``python -m tests.fuzz.robust`` runs the full count).

Three parts, all through ``robust.check_text``, which runs every stage (compile, report in the
three formats, explain, diagrams, code generation, summary, fmt) and records crashes, hangs,
diagnostics pointing outside the file, generated code that does not compile, and fmt output
that changes the meaning:

- every input that once crashed or hung graphc (``tests/cases/crashes/``, one file each, with
  what went wrong in its header) must now pass, with the diagnostic its header promises;
- every limit probe (deep nesting, huge numbers, 20 MB files, recursive blocks...) must give
  its diagnostic;
- a few hundred random inputs of a fixed seed must pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fuzz import robust

CRASHES = sorted((Path(__file__).resolve().parents[1] / "cases" / "crashes").glob("*.model"))
TIMEOUT = 120  # seconds per input: far above any case's time, far below "hangs"


def _failures(r: robust.Result) -> str:
    return "\n".join(f"{kind}: {detail}" for kind, detail in r.failures)


def test_there_are_regression_cases():
    assert len(CRASHES) >= 10


#: the inputs that take seconds each (big files by design): marked ``slow``, so that ``make
#: test-fast`` skips them; ``make test`` (CI) runs them
HEAVY_CRASHES = {"block_constant_arguments", "block_constant_uses", "empty_block_uses", "symbolic_conv_chain"}
HEAVY_PROBES = {"15,000 comments (fmt)", "1 MB line", "20,000 undefined names among 20,000 values",
                "10**12 uses of empty blocks"}


def _slow_if(heavy: bool) -> tuple:
    return (pytest.mark.slow,) if heavy else ()


def test_the_heavy_inputs_exist():
    """A renamed case or probe would silently leave the slow set."""
    assert HEAVY_CRASHES <= {p.stem for p in CRASHES}
    assert HEAVY_PROBES <= {p[0] for p in robust.probes()}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=_slow_if(p.stem in HEAVY_CRASHES))
                                  for p in CRASHES])
def test_crash_regression(path: Path):
    text = path.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "Was:" in header, f"{path.name}: the header says what went wrong"
    assert "NOT FIXED" not in header
    r = robust.check_text(text, path=str(path), timeout=TIMEOUT)
    assert not r.failures, _failures(r)
    promised = re.search(r"Now: a '([a-z-]+)' diagnostic", header)
    if promised:
        assert promised.group(1) in r.codes, f"expected a '{promised.group(1)}' diagnostic, got {sorted(r.codes)}"


PROBES = robust.probes()


@pytest.mark.parametrize("name,text,want", [pytest.param(*p, id=p[0], marks=_slow_if(p[0] in HEAVY_PROBES))
                                             for p in PROBES])
def test_limit_probe(name, text, want):
    if isinstance(text, bytes):
        r = robust.check_bytes(text, timeout=TIMEOUT)
    else:
        r = robust.check_text(text, timeout=TIMEOUT)
    assert not r.failures, _failures(r)
    if want is not None:
        assert want in r.codes, f"{name}: expected a '{want}' diagnostic, got {sorted(r.codes)}"


SLICE = 60  # cases per test; four tests


@pytest.mark.parametrize("lo", range(0, 4 * SLICE, SLICE))
def test_random_inputs(lo):
    corpus = robust.load_corpus()
    failures, clean = [], 0
    for i in range(lo, lo + SLICE):
        origin, text, bindings = robust.make_case(7, i, corpus)
        r = robust.check_text(text, timeout=TIMEOUT, bindings=bindings)
        clean += r.clean
        failures += [f"case {i} ({origin}): {kind}: {detail}\n    {robust.shorten(text, 300)}"
                     for kind, detail in r.failures]
    assert not failures, "\n".join(failures)
    assert clean > 0, "no random input compiled cleanly: the generator no longer reaches code generation"
