"""A run folder's files: atomic writes, provenance, and checkpoints that can never run code."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from rnnppo.errors import RunFileError

CHECKPOINT_FORMAT = 1


@functools.cache
def _new_file_mode() -> int:
    """The mode open() gives a new file: 0666 less the process's umask (read once: reading it means
    setting it, and this process never changes it)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over `path`. An OSError (a full disk, a
    read-only folder) names `path`, and no temp file is left behind."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
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


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    text = json.dumps(json_safe(dict(data)), indent=2, default=_json_default, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


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


def git_commit(start: Path | None = None) -> dict[str, Any]:
    """The git commit of the code (rnnppo's own checkout), and whether its tree was dirty."""
    where = Path(start or Path(__file__).resolve().parent)
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
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("rnnppo", "torch", "gymnasium", "optuna", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(device: str) -> dict[str, Any]:
    return {
        "command": sys.argv,
        "versions": package_versions(),
        "git": git_commit(),
        "device": device,
        "host": platform.node(),
    }


def save_checkpoint(path: Path, policy: torch.nn.Module, config: Mapping[str, Any], obs_dim: int) -> None:
    """Weights plus the plain-data config: loadable with weights_only=True."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        "config_json": json.dumps(dict(config), default=_json_default),
        "obs_dim": int(obs_dim),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load with weights_only=True: a crafted pickle cannot run code, it fails to load instead."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise RunFileError(f"{path} is a folder, not a checkpoint file") from None
    except Exception as err:  # noqa: BLE001 - any load failure means: a damaged file, or not one we wrote
        # torch's words without its advice: "re-run with weights_only=False" would let a crafted file run code.
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        marker = "WeightsUnpickler error:"
        after = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.endswith(marker)]
        if after or any(marker in line for line in lines):
            detail = after[0] if after else lines[-1]
            raise RunFileError(
                f"{path} is corrupt or not an rnnppo checkpoint: it holds more than tensors and plain values "
                f"({detail}), so it is not loaded (loading it could run code)"
            ) from None
        detail = lines[0].split(". ")[0] if lines else f"{type(err).__name__}: the file ends too early"
        raise RunFileError(f"{path} is corrupt (damaged or truncated): {detail}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "state_dict" not in payload:
        raise RunFileError(f"{path} is not an rnnppo checkpoint (format {CHECKPOINT_FORMAT})")
    try:
        payload["config"] = json.loads(payload["config_json"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise RunFileError(f"{path} has no readable config") from None
    return payload
