"""``graphc fmt``: rewrite .model files in the canonical layout, or show (``--diff``) or check
(``--check``) what it would change.  A file is only ever rewritten atomically, and only when the
formatted text means the same."""

from __future__ import annotations

import sys
from pathlib import Path

from graphc.cli import UsageError, expand_inputs
from graphc.files import write_atomic
from graphc.report import EXIT_OK, EXIT_PROBLEMS, one_line


def cmd_fmt(args) -> int:
    import difflib

    from graphc.errors import GraphcError
    from graphc.fmt import format_text, same_meaning

    files = expand_inputs(args.files)
    if not files:
        raise UsageError("no .model files to format")
    changed = failed = 0
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
            new = format_text(text, f)
        except OSError as e:
            print(one_line(f"graphc: error: cannot read {f}: {e.strerror}"), file=sys.stderr)
            failed += 1
            continue
        except GraphcError as e:
            from graphc import report
            from graphc.source import Source

            report.emit([(Source(f, text), e.diagnostics)], "text")
            failed += 1
            continue
        if new == text:
            continue
        if not same_meaning(text, new):  # a formatter bug must never rewrite a file
            raise RuntimeError(f"formatting {f} would change its meaning; the file was left as it is")
        changed += 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                       f"{f} (original)", f"{f} (formatted)"))
        if args.check or args.diff:
            if args.check:
                print(f"would reformat {f}")
        else:
            write_atomic(Path(f), new)
            print(f"reformatted {f}")
    if failed:
        return EXIT_PROBLEMS
    if (args.check or args.diff) and changed:
        return EXIT_PROBLEMS
    if not changed and not args.diff:
        print(f"{len(files)} file{'s' if len(files) != 1 else ''} already formatted")
    return EXIT_OK
