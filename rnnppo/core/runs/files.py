"""A run folder's files: atomic writes, provenance, and checkpoints that can never run code."""

from __future__ import annotations

import contextlib
import csv
import errno
import functools
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnppo.errors import RunFileError

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = 1


@functools.cache
def _new_file_mode() -> int:
    """The mode open() gives a new file: 0666 less the process's umask (read once: reading it means
    setting it, and this process never changes it)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes, private: bool = False) -> None:
    """Write to a temp file in the same folder, fsync, then rename over `path`. An OSError (a full disk, a
    read-only folder) names `path`, and no temp file is left behind. `private`: readable by its owner only
    (0600), for a file that names a database or server with its user."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if not private:
                os.chmod(tmp, _new_file_mode())  # mkstemp makes 0600; a new file is 0666 less the umask
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        if err.filename is None:  # a failing write() or fsync() names no file
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple | set):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def json_safe(value: Any) -> Any:
    """NaN/inf are not JSON; write them as null (inside mappings, lists and tuples too)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, data: Mapping[str, Any], private: bool = False) -> None:
    text = json.dumps(json_safe(dict(data)), indent=2, default=_json_default, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode(), private=private)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunFileError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFileError(f"{path} is not valid JSON (truncated or corrupt?): {err}") from None
    if not isinstance(data, dict):
        raise RunFileError(f"{path} does not hold a JSON object")
    return data


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """One row per dict; columns are the union of keys in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, out.getvalue().encode())


class MetricsFile:
    """metrics.csv grown one row per iteration at a constant cost: each row is one `write()` of a whole line
    to a file opened for appending, so a killed process leaves whole rows only (the kernel has the row or
    not). fsync runs every `fsync_every_s` seconds and at close, not per row (per row it would cost more
    than a small iteration); a power cut may lose the last seconds of rows, and a row torn by it is dropped
    when the file is opened again. A failed write (a full disk) is cut back off, so the file never holds
    part of a row.

    The columns are fixed by the first row (or the existing header); a row with new keys rewrites the
    file once with the wider header."""

    def __init__(self, path: Path, fsync_every_s: float = 10.0):
        self.path = Path(path)
        self.fsync_every_s = fsync_every_s
        self.columns: list[str] | None = None
        self.fd: int | None = None
        self.last_fsync = 0.0

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.columns = repair_torn_tail(self.fd)
        self.last_fsync = time.monotonic()

    def append(self, row: Mapping[str, Any]) -> None:
        try:
            if self.fd is None:
                self._open()
            if self.columns is None:
                self.columns = list(row)
                self._write(_csv_line(self.columns))
            elif any(key not in self.columns for key in row):
                self._widen(row)
            self._write(_csv_line([_csv_cell(row.get(key)) for key in self.columns]))
            if time.monotonic() - self.last_fsync >= self.fsync_every_s:
                os.fsync(self.fd)  # type: ignore[arg-type]
                self.last_fsync = time.monotonic()
        except OSError as err:
            if err.filename is None:
                raise OSError(err.errno, err.strerror, str(self.path)) from None
            raise

    def _write(self, text: str) -> None:
        data = text.encode()
        size = os.fstat(self.fd).st_size  # type: ignore[arg-type]
        try:
            written = os.write(self.fd, data)  # type: ignore[arg-type]
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write (disk full?)")
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, size)  # type: ignore[arg-type]
            raise

    def _widen(self, row: Mapping[str, Any]) -> None:
        assert self.columns is not None and self.fd is not None
        with open(self.path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        self.columns.extend(key for key in row if key not in self.columns)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        os.close(self.fd)
        atomic_write_bytes(self.path, out.getvalue().encode())
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND)

    def sync(self) -> None:
        """fsync now (before a checkpoint names this iteration as written)."""
        if self.fd is not None:
            os.fsync(self.fd)
            self.last_fsync = time.monotonic()

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.fsync(self.fd)
            finally:
                os.close(self.fd)
                self.fd = None


def repair_torn_tail(fd: int) -> list[str] | None:
    """Cut a last line that has no end of line (a row torn by a crash) off an open file; return the
    header's columns, or None for an empty file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    tail_start = max(0, size - 65536)
    tail = os.pread(fd, size - tail_start, tail_start)
    while not tail.endswith(b"\n"):
        cut = tail.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, tail_start + cut + 1)
            break
        if tail_start == 0:  # not even a whole header: start afresh
            os.ftruncate(fd, 0)
            return None
        tail_start = max(0, tail_start - 65536)
        tail = os.pread(fd, size - tail_start, tail_start)
    header = b""
    while not header.endswith(b"\n"):
        chunk = os.pread(fd, 65536, len(header))
        if not chunk:
            break
        header += chunk
        if b"\n" in header:
            header = header[: header.index(b"\n") + 1]
    return next(csv.reader([header.decode().rstrip("\n")]))


def _csv_cell(value: Any) -> Any:
    return "" if value is None else value


def _csv_line(cells: Sequence[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def truncate_metrics(path: Path, last_iteration: int) -> list[dict[str, Any]]:
    """Cut metrics.csv back to iterations 1..last_iteration (a resumed run goes on from there: no gap, no
    iteration twice) and return those rows as numbers. Rows after it, and a torn last line that a kill
    mid-append left, are dropped; the kept lines are rewritten byte for byte, atomically."""
    path = Path(path)
    if last_iteration == 0:
        path.unlink(missing_ok=True)
        return []
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RunFileError(f"{path} does not exist, but the checkpoint is at iteration {last_iteration}") from None
    lines = text.splitlines(keepends=True)
    header = next(csv.reader(lines[:1]), [])
    if "iteration" not in header:
        raise RunFileError(f"{path} has no iteration column: not a metrics file rnnppo wrote")
    column = header.index("iteration")
    kept_lines, rows = [lines[0]], []
    for line in lines[1:]:
        cells = next(csv.reader([line]), [])
        if not line.endswith("\n") or len(cells) != len(header):
            break  # torn by a kill mid-write: nothing after it was written
        if int(cells[column]) > last_iteration:
            break
        kept_lines.append(line)
        rows.append({name: _number(cell) for name, cell in zip(header, cells, strict=True)})
    if len(rows) != last_iteration or [row["iteration"] for row in rows] != list(range(1, last_iteration + 1)):
        raise RunFileError(f"{path} does not hold iterations 1..{last_iteration} that the checkpoint was written after")
    if len(kept_lines) != len(lines):
        atomic_write_bytes(path, "".join(kept_lines).encode())
    return rows


def _number(cell: str) -> Any:
    if cell == "":
        return math.nan
    try:
        return int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return cell


def git_commit(start: Path | None = None) -> dict[str, Any]:
    """The git commit of the code (rnnppo's own checkout), and whether its tree was dirty. rnnppo's own is
    looked up once per process, not per run (two git processes, ~25 ms of a tiny run): the code a process
    runs is the code it imported, whatever the checkout holds later."""
    if start is None:
        return dict(_own_git_commit())
    return _git_commit(Path(start))


@functools.cache
def _own_git_commit() -> dict[str, Any]:
    return _git_commit(Path(__file__).resolve().parent)


def _git_commit(where: Path) -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    return dict(_package_versions())


@functools.cache
def _package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("rnnppo", "torch", "gymnasium", "optuna", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


_CREDENTIALS = re.compile(r"://[^/@\s]*@|(?i:password=)")


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db; also ?password=secret. Everything
    up to the last '@' is masked, so a password with a raw '@' in it does not leak its end. Every URL, text or
    command word rnnppo prints or writes goes through this (storage URLs, --mlflow-uri, error messages)."""
    masked = re.sub(r"(://[^:/@]*):.*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&\s'\"]*", r"\1***", masked)


def masked_command(argv: Sequence[str]) -> list[str]:
    """The command line as recorded in config.json: every word's password masked."""
    return [mask_url(str(word)) for word in argv]


def names_a_server(words: Sequence[str]) -> bool:
    """Whether these words hold a connection string with a user or password (the file keeping them is
    written readable by its owner only)."""
    return any(_CREDENTIALS.search(str(word)) for word in words)


def provenance(device: str) -> dict[str, Any]:
    return {
        "command": masked_command(sys.argv),
        "versions": package_versions(),
        "git": git_commit(),
        "device": device,
        "host": platform.node(),
    }


def save_checkpoint(path: Path, policy: torch.nn.Module, config: Mapping[str, Any], obs_dim: int) -> None:
    """Weights plus the plain-data config: loadable with weights_only=True."""
    import torch  # here, not at the top: `rnnppo report` reads run files without loading torch (~1.6 s)

    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        "config_json": json.dumps(dict(config), default=_json_default),
        "obs_dim": int(obs_dim),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def safe_torch_load(path: Path) -> Any:
    """torch.load with weights_only=True: a crafted pickle cannot run code, it is refused in one line. torch's
    own message is not repeated: its advice to load with weights_only=False is the one thing not to do."""
    import pickle

    import torch

    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise RunFileError(f"{path} is a folder, not a checkpoint file") from None
    except pickle.UnpicklingError as err:  # weights_only met something that is not a tensor or plain value
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        names = f" (it names {found.group(1)})" if found else ""
        raise RunFileError(f"{path} is not an rnnppo checkpoint; refusing to unpickle it{names}") from None
    except Exception as err:  # noqa: BLE001 - any other load failure: a damaged or truncated file
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = lines[0].split(". ")[0] if lines else f"{type(err).__name__}: the file ends too early"
        raise RunFileError(f"{path} is corrupt (damaged or truncated): {detail}") from None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load with weights_only=True: a crafted pickle cannot run code, it fails to load instead."""
    payload = safe_torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "state_dict" not in payload:
        raise RunFileError(f"{path} is not an rnnppo checkpoint (format {CHECKPOINT_FORMAT})")
    try:
        payload["config"] = json.loads(payload["config_json"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise RunFileError(f"{path} has no readable config") from None
    return payload
