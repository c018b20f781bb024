"""The training script's CSV reading, one block that csv() and text_csv() both put in a script
(graphc/components/datasets.py's helper_code writes a shared block once)."""

#: the script's CSV reading, shared by csv() and text_csv()
CSV_ROWS = """
def _csv_rows(path):
    # the rows of a CSV file with a header, and the line each row ends on (a quoted value may span
    # lines); encoding utf-8-sig: a byte-order mark (Excel's CSV UTF-8) is not part of a name
    import csv

    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.reader(f)
            rows, lines = [], []
            for r in reader:
                rows.append(r)
                lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f'cannot read {path}: {e}') from None
    if not rows:
        raise DataError(f'{path} is empty: it needs a header row naming the columns')
    return rows, lines


def _csv_row(n, lines):
    # row n (0: the header) as a person counts it, and its line where a quoted value spans lines
    return f'row {n + 1}' + (f' (line {lines[n - 1] + 1})' if lines[n - 1] != n else '')
"""
