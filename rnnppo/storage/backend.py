"""Opening Optuna storages from a URL: SQLite by default, PostgreSQL for many machines.

Every RDB storage gets a heartbeat, so a trial whose worker died is marked failed and retried once
by a surviving worker (Optuna's heartbeat + RetryFailedTrialCallback). Passwords never leave here
unmasked: use `mask_url` for anything printed or written.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import sqlite3
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage
from sqlalchemy.engine import make_url

from rnnppo.core.runs.files import mask_url as mask_url  # the one implementation, used by every layer
from rnnppo.errors import StorageError


def _heartbeat_interval() -> int:
    """Seconds between a running trial's heartbeats; RNNPPO_HEARTBEAT_S overrides the default 5 (tests
    use 1 so that a dead worker is noticed in seconds). A trial is stale after 4 missed heartbeats."""
    raw = os.environ.get("RNNPPO_HEARTBEAT_S", "5")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        print(f"error: RNNPPO_HEARTBEAT_S={raw!r} must be a whole number of seconds >= 1", file=sys.stderr)
        raise SystemExit(2)
    return value


HEARTBEAT_INTERVAL_S = _heartbeat_interval()
GRACE_PERIOD_S = 4 * HEARTBEAT_INTERVAL_S
DB_FILE = "rnnppo.db"
SCHEMA_RACE_RETRIES = 5
SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgresql+psycopg2", "mysql", "mysql+pymysql")


def default_storage_url(results_dir: Path) -> str:
    # Quoted: SQLAlchemy reads `?` as the start of URL options and unquotes the path it opens.
    return f"sqlite:///{quote(str(Path(results_dir).resolve() / DB_FILE))}"


def sqlite_path(url: str) -> Path | None:
    """The file a sqlite:/// URL opens, as SQLAlchemy reads it (None: in memory, or not a SQLite URL)."""
    try:
        database = make_url(url).database if _scheme(url) == "sqlite" else None
    except Exception:  # noqa: BLE001 - a malformed URL: opening it says what is wrong
        return None
    return Path(database) if database and database != ":memory:" else None


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else ""


def check_url(url: str) -> str:
    """The URL's scheme, or StorageError when rnnppo cannot use it (checked before anything is written)."""
    scheme = _scheme(url)
    if scheme not in SUPPORTED_SCHEMES:
        raise StorageError(
            f"storage URL {mask_url(url)!r} has an unsupported scheme {scheme or '(none)'!r}; "
            "use sqlite:///path/to/file.db or postgresql://user:password@host/db"
        )
    return scheme


STORAGE_ENV = "RNNPPO_STORAGE"


def storage_from_env(url: str | None) -> str | None:
    """`url` when given, else $RNNPPO_STORAGE (a URL that need not sit on the command line, where other
    users' `ps` shows it, nor in a shell history), else None (the results folder's SQLite file)."""
    if url is not None:
        return url
    value = os.environ.get(STORAGE_ENV, "").strip()
    if not value:
        return None
    try:
        check_url(value)
    except StorageError as err:
        raise StorageError(f"{STORAGE_ENV}: {err}") from None
    return value


POSTGRES_DRIVER = "postgresql+psycopg"


def driver_url(url: str) -> str:
    """The URL SQLAlchemy opens: a bare postgresql:// gets psycopg 3, the driver rnnppo[postgres] installs.
    SQLAlchemy 2.0 reads a bare postgresql:// as psycopg2 (2.1 changed its default to psycopg); naming the
    driver makes the URL mean the same on both. Every other URL, an explicit driver included, is kept."""
    if _scheme(url) == "postgresql":
        return POSTGRES_DRIVER + url[len("postgresql") :]
    return url


def _retry_stale_trials() -> dict:
    """The heartbeat callback that re-queues a dead worker's trial once (Optuna renamed it in 4.9)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the callback is marked experimental; it is what Optuna recommends
        try:
            from optuna.storages import RetryHeartbeatStaleTrialCallback
        except ImportError:
            from optuna.storages import RetryFailedTrialCallback

            return {"failed_trial_callback": RetryFailedTrialCallback(max_retry=1)}
        return {"heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=1)}


SCHEMA_RACE_SIGNS = ("duplicate key", "already exists", "UNIQUE constraint failed", "database is locked")


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write the SQLite file at `path` (a read command must never change what it
    reads; Optuna would otherwise create its tables in an empty file). A writer killed mid-commit leaves a
    hot journal that a read-only connection cannot roll back: SQLite's own recovery runs once through a
    normal connection (it restores the last committed state), then the file is read read-only."""
    uri = f"{path.resolve().as_uri()}?mode=ro"  # as_uri percent-encodes '?', '#' and '%' in the path
    connection = sqlite3.connect(uri, uri=True, timeout=120, check_same_thread=False)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as err:
        connection.close()
        if "readonly" not in str(err) or not Path(f"{path}-journal").exists():
            raise
        with contextlib.closing(sqlite3.connect(path, timeout=120)) as recovery:
            recovery.execute("SELECT count(*) FROM sqlite_master").fetchone()
        connection = sqlite3.connect(uri, uri=True, timeout=120, check_same_thread=False)
    return connection


def _check_initialised(url: str, path: Path) -> None:
    """A SQLite file opened read-only must hold Optuna's tables and version row: Optuna would write them
    (and fail: "attempt to write a readonly database"). A file a starting sweep has not finished creating
    lacks them too."""
    try:
        with contextlib.closing(_connect_read_only(path)) as connection:
            ready = connection.execute("SELECT count(*) FROM version_info").fetchone()[0] > 0
    except sqlite3.OperationalError as err:
        if "no such table" not in str(err):
            raise StorageError(f"cannot open storage {mask_url(url)}: {err}") from None
        ready = False
    except sqlite3.DatabaseError as err:  # "file is not a database"
        raise StorageError(f"cannot open storage {mask_url(url)}: {err}") from None
    if not ready:
        raise StorageError(
            f"storage {mask_url(url)} holds no Optuna tables (yet): no study to read; "
            "a sweep creates them, or it is not an rnnppo storage"
        )


def open_storage(url: str, heartbeat: bool = True, read_only: bool = False) -> RDBStorage:
    """An RDBStorage for `url`; unreachable servers, bad passwords and unknown schemes raise StorageError.
    `read_only`: a SQLite file is opened so that nothing can write it (no tables are created)."""
    scheme = check_url(url)
    engine_kwargs: dict = {}
    kwargs: dict = {}
    path = sqlite_path(url) if scheme == "sqlite" else None
    if read_only and path is not None:
        _check_initialised(url, path)
        engine_kwargs = {"creator": functools.partial(_connect_read_only, path)}
        kwargs["skip_table_creation"] = True
    elif scheme == "sqlite":
        # Several worker processes share one file: wait for the lock instead of failing.
        engine_kwargs = {"connect_args": {"timeout": 120}}
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StorageError(f"cannot create the folder of storage {mask_url(url)}: {err.strerror}") from None
    else:
        engine_kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    kwargs["engine_kwargs"] = engine_kwargs
    if heartbeat:
        kwargs.update(
            heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=GRACE_PERIOD_S,
            **_retry_stale_trials(),
        )
    for attempt in range(SCHEMA_RACE_RETRIES + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(driver_url(url), **kwargs)
        except ImportError as err:
            raise StorageError(
                f"storage {mask_url(url)} needs a database driver: {err}; install rnnppo[postgres] for PostgreSQL"
            ) from None
        except Exception as err:  # noqa: BLE001 - SQLAlchemy's connection errors are many types
            first = _database_words(err)
            # Processes starting together on an empty database race to create Optuna's tables; the
            # loser sees a duplicate-object error (or SQLite's lock) and only has to try again.
            if attempt < SCHEMA_RACE_RETRIES and any(sign in first for sign in SCHEMA_RACE_SIGNS):
                time.sleep(0.5 + random.random() * (attempt + 1))
                continue
            raise StorageError(f"cannot open storage {mask_url(url)}: {first}") from None
    raise AssertionError("unreachable")


def storage_write_error(err: BaseException) -> str | None:
    """The database's own words when `err` is the storage failing (a full disk, a read-only or locked
    database, a lost server), else None."""
    if not isinstance(err, optuna.exceptions.StorageInternalError | sqlalchemy.exc.OperationalError):
        return None
    return _database_words(err)


def storage_read_error(err: BaseException) -> str | None:
    """The database's own words when `err` is the storage failing to be read (also a damaged file: "database
    disk image is malformed", or a file that is not Optuna's: "no such table"), else None."""
    if not isinstance(err, optuna.exceptions.StorageInternalError | sqlalchemy.exc.DatabaseError):
        return None
    return _database_words(err)


def _database_words(err: BaseException) -> str:
    """The first line of the database's own message at the root of `err`, password masked."""
    cause: BaseException = err
    while cause.__cause__ is not None:
        cause = cause.__cause__
    lines = str(getattr(cause, "orig", None) or cause).strip().splitlines()
    return mask_url(lines[0]) if lines else type(cause).__name__


def quiet_optuna() -> None:
    """Optuna's per-trial INFO lines and caught-exception tracebacks would drown the live table."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
