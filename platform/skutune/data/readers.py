"""A user's files as rows of text: JSONL, CSV, Parquet and Arrow (a Hugging Face dataset saved to
disk), one file or a folder of them, any of them gzipped. Each row becomes one `row_json` string and validation decides what it means.

No byte, row or file fails the read: a line that is not UTF-8, a CSV row with the wrong number
of fields, a line over MAX_ROW_BYTES or a file that expands past MAX_EXPANDED_BYTES becomes a
row marked bad (runtime.paths.bad_row), which validation quarantines with its reason. CSV
cells are read as text, never type-inferred: one Latin-1 byte would otherwise turn a whole
column binary, and a "1,200" after numeric rows fail the file. Files are streamed a chunk at a
time, and each file is read by its own suffix with its own schema.
"""

import csv
import gzip
import json
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray
from ray.data.datasource import FileBasedDatasource

from skutune.runtime.paths import bad_row
from skutune.runtime.storage import filesystem, is_uri

MAX_ROW_BYTES = 1 << 20  # one JSONL line or CSV line
MAX_EXPANDED_BYTES = 32 << 30  # what a .gz may expand to: a zip bomb stops here
CHUNK = 1 << 20
ROWS_PER_BLOCK = 10_000
KINDS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}
# what `datasets.save_to_disk` writes beside its Arrow files: its own bookkeeping, not rows
HF_BOOKKEEPING = {"state.json", "dataset_info.json", "dataset_dict.json"}
HF_SPLITS = ("train", "test")


def kind_of(path: PurePosixPath) -> str | None:
    suffixes = path.suffixes[-2:] if path.suffix == ".gz" else path.suffixes[-1:]
    return KINDS.get(suffixes[0].lower()) if suffixes else None


def files_of(path: str | Path) -> list[str]:
    """The data files at `path` (on this machine, or a URI): the file itself, or a folder's files
    below it, skipping hidden and bookkeeping ones (.DS_Store, _SUCCESS); a file of an unknown
    kind is an error naming it."""
    fs, root = filesystem(path)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no such file or folder: {path}")
    prefix = f"{str(path).split('://', 1)[0]}://" if is_uri(path) else ""
    if info.type == pafs.FileType.File:
        listed = [root]
    else:
        below = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        listed = [
            i.path
            for i in sorted(below, key=lambda i: i.path)
            if i.type == pafs.FileType.File
            and not any(part[:1] in "._" for part in i.path[len(root) :].split("/") if part)
        ]
    found = [PurePosixPath(p) for p in listed]
    if any(p.suffix == ".arrow" for p in found):  # a Hugging Face dataset saved to disk
        found = [p for p in found if p.name not in HF_BOOKKEEPING]
    unknown = [str(p) for p in found if kind_of(p) is None]
    if unknown:
        raise ValueError(f"{unknown[:3]}: not .jsonl, .json, .csv, .parquet or .arrow (or one of those gzipped)")
    if not found:
        raise ValueError(f"{path} holds no data files")
    return [prefix + str(p) for p in found]


class _Capped:
    """A stream that stops at MAX_EXPANDED_BYTES, gunzipping when the bytes say gzip."""

    def __init__(self, f):
        head = f.read(2)
        self.f = gzip.GzipFile(fileobj=_Prefixed(head, f)) if head == b"\x1f\x8b" else _Prefixed(head, f)
        self.seen, self.over = 0, False

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        self.seen += len(data)
        if self.seen > MAX_EXPANDED_BYTES:
            self.over = True
            return b""
        return data


class _Prefixed:
    def __init__(self, head: bytes, f):
        self.head, self.f = head, f

    def read(self, n: int = -1) -> bytes:
        head, self.head = self.head, b""
        return head + self.f.read(n - len(head) if n > 0 else -1) if n != 0 else b""


def lines(stream: _Capped):
    """Lines split on \\n and \\r, without them; an over-long line comes as None, then is skipped."""
    buf, skipping = b"", False
    while chunk := stream.read(CHUNK):
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            if end - start > MAX_ROW_BYTES:
                yield None
            elif not skipping:
                yield from buf[start:end].removesuffix(b"\r").split(b"\r")
            skipping, start = False, end + 1
        buf = buf[start:]
        if len(buf) > MAX_ROW_BYTES:
            if not skipping:
                yield None
            buf, skipping = b"", True
    if buf and not skipping:
        yield from buf.removesuffix(b"\r").split(b"\r") if len(buf) <= MAX_ROW_BYTES else [None]


def decoded(line: bytes | None) -> str:
    if line is None:
        return bad_row(f"line over {MAX_ROW_BYTES} bytes", "")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as err:
        return bad_row(f"not valid UTF-8 (byte {err.start})", line.decode("utf-8", "backslashreplace"))


def jsonl_rows(stream):
    for line in lines(stream):
        yield decoded(line)


def csv_rows(stream):
    """Every cell as text; an empty cell is no value. A row of the wrong width, a bad byte or a
    quoting error is a bad row, and the reader goes on with the next."""
    held = []  # lines marked bad by decoded(): the csv reader sees an empty line instead

    def text():
        for line in lines(stream):
            row = decoded(line)
            if row.startswith("\x00"):
                held.append(row)
                row = ""
            yield row + "\n"

    reader, header = csv.reader(text()), None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            yield from held
            return
        except csv.Error as err:
            cells = [bad_row(f"CSV: {err}", "")]
        yield from held
        held.clear()
        raw = ",".join(cells)
        if not cells or cells[0].startswith("\x00"):
            yield from cells
        elif header is None:
            header = [c.removeprefix("\ufeff").strip() for c in cells]
        elif len(cells) != len(header):
            yield bad_row(f"CSV row has {len(cells)} fields, the header {len(header)}", raw)
        else:  # a row of empty cells is "{}": validation says what it lacks
            yield json.dumps({k: v for k, v in zip(header, cells) if v != ""}, ensure_ascii=False)


def parquet_rows(f):
    """Each file with its own schema; bytes values must be UTF-8 text. Parquet's footer comes
    last, so a file is read whole (its row groups bound what one part file holds)."""
    return _json_rows(pq.ParquetFile(pa.BufferReader(f.read())).iter_batches(batch_size=ROWS_PER_BLOCK))


def arrow_rows(f, split: str | None):
    """An Arrow IPC stream, as `datasets.save_to_disk` writes one, read a record batch at a time.
    In a saved DatasetDict the folder names the split: a row without a `split` gets it."""
    try:
        yield from _json_rows(pa.ipc.open_stream(f), {"split": split} if split else {})
    except (pa.ArrowInvalid, OSError) as err:  # a truncated or foreign file: the rows read so far stay
        yield bad_row(f"Arrow: {err}"[:500], "")


def _json_rows(batches, defaults: dict | None = None):
    for batch in batches:
        for row in batch.to_pylist():
            row = {**(defaults or {}), **row}
            try:
                row = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in row.items()}
                yield json.dumps(row, ensure_ascii=False, default=str)
            except UnicodeDecodeError as err:
                yield bad_row(f"not valid UTF-8 (byte {err.start})", str(row)[:2000])


class TextRows(FileBasedDatasource):
    def _read_stream(self, f, path: str):
        kind = kind_of(Path(path))
        if kind == "parquet":
            rows = parquet_rows(f)
        elif kind == "arrow":
            parent = Path(path).parent
            in_dict = parent.name in HF_SPLITS and (parent.parent / "dataset_dict.json").exists()
            rows = arrow_rows(f, parent.name if in_dict else None)
        else:
            stream = _Capped(f)
            rows = (jsonl_rows if kind == "jsonl" else csv_rows)(stream)
        block = []
        for row in rows:
            block.append(row)
            if len(block) == ROWS_PER_BLOCK:
                yield pa.table({"row_json": pa.array(block, pa.string())})
                block = []
        if kind not in ("parquet", "arrow") and stream.over:
            block.append(bad_row(f"{path} expands past {MAX_EXPANDED_BYTES} bytes: the rest is not read", ""))
        if block:
            yield pa.table({"row_json": pa.array(block, pa.string())})


def read_rows(path: str | Path) -> ray.data.Dataset:
    """Any of JSONL/CSV/Parquet (or gzipped), one file or a folder of them, or a Hugging Face
    dataset saved to disk (its Arrow files), as {"row_json"}."""
    # Ray may gunzip by suffix on its own; _Capped gunzips whatever still is gzip, and caps both
    return ray.data.read_datasource(TextRows(files_of(path), open_stream_args={"compression": None}))
