"""Search spaces from `name=SPACE` words: choices `v1,v2`, ranges `lo..hi[:log]`, fixed values.

Every name is resolved to its full configuration name (`seq_len` → `max_seq_len`), so a study stores
one name per setting. Values are typed by the field they set; list-valued fields (`fcnet_hiddens`)
are stored in Optuna as their text form (`"[64,64]"`) because Optuna's categorical choices must be
scalars; `decode_param` turns a stored value back into the typed one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import optuna

from rnnppo.core.config import (
    ENV_KWARG_PREFIX,
    ConfigError,
    TrainConfig,
    canonical_name,
    coerce,
    field_kind,
    format_value,
    parse_scalar,
    split_assignment,
)
from rnnppo.storage.contract import decode_param, encode_param

_RANGE_SEP = ".."
_LOG_SUFFIX = ":log"


def _is_env_kwarg(name: str) -> bool:
    return name.startswith(ENV_KWARG_PREFIX)


def _typed(name: str, text: str) -> Any:
    """A CLI value typed for its field (env kwargs get the best-effort literal)."""
    return parse_scalar(text) if _is_env_kwarg(name) else coerce(name, text)


def _check_alone(name: str, value: Any) -> None:
    """Fail on a value that is impossible for its field whatever else is set (max_seq_len=0)."""
    if _is_env_kwarg(name) or name in ("env", "env_kwargs"):
        return
    # The other side of cross-field checks (minibatch_size >= max_seq_len) is set to a value that
    # always passes: only what is impossible for this field alone fails here.
    permissive: dict[str, Any] = {k: v for k, v in {"max_seq_len": 1, "minibatch_size": 1 << 30}.items() if k != name}
    try:
        TrainConfig(**permissive, **{name: value})
    except ConfigError as err:
        if str(err).startswith(f"{name}="):
            raise
    except TypeError:
        pass


def _split_choices(text: str) -> list[str]:
    """Split at commas outside brackets: `[64],[64,64]` → ['[64]', '[64,64]']."""
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items


@dataclass(frozen=True)
class Choice:
    """A categorical dimension: one of `values` (typed)."""

    name: str
    values: tuple[Any, ...]

    def text(self) -> str:
        return f"{self.name}=" + ",".join(format_value(v) for v in self.values)

    def describe(self) -> str:
        return f"{len(self.values)} choices: " + ", ".join(format_value(v) for v in self.values)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "choice", "values": [encode_param(self.name, v) for v in self.values]}

    def suggest(self, trial: optuna.Trial) -> Any:
        encoded = [encode_param(self.name, v) for v in self.values]
        return decode_param(self.name, trial.suggest_categorical(self.name, encoded))


@dataclass(frozen=True)
class Range:
    """A numeric interval, uniform (or log-uniform); integer when `integer`."""

    name: str
    low: float | int
    high: float | int
    log: bool
    integer: bool

    def text(self) -> str:
        return f"{self.name}={format_value(self.low)}{_RANGE_SEP}{format_value(self.high)}" + (
            _LOG_SUFFIX if self.log else ""
        )

    def describe(self) -> str:
        kind = "integer" if self.integer else "float"
        scale = "log-uniform" if self.log else "uniform"
        return f"{kind} {scale} in [{format_value(self.low)}, {format_value(self.high)}]"

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "range",
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "integer": self.integer,
        }

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)


@dataclass(frozen=True)
class Fixed:
    """A value set for every trial, not swept."""

    name: str
    value: Any

    def text(self) -> str:
        return f"{self.name}={format_value(self.value)}"

    def describe(self) -> str:
        return f"fixed: {format_value(self.value)}"

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "fixed", "value": encode_param(self.name, self.value)}


Dim = Choice | Range | Fixed


def _parse_range(name: str, word: str, text: str) -> Range:
    log = text.endswith(_LOG_SUFFIX)
    body = text[: -len(_LOG_SUFFIX)] if log else text
    if ":" in body:
        raise ConfigError(f"'{word}': the only range suffix is ':log' (e.g. {name}=1e-4..1e-2:log)")
    low_text, _, high_text = body.partition(_RANGE_SEP)
    if not low_text.strip() or not high_text.strip():
        raise ConfigError(f"'{word}' needs both ends of the range, e.g. {name}=1e-4..1e-2")
    if _is_env_kwarg(name):
        field_int, numeric = None, True
    else:
        base, _, is_tuple = field_kind(name)
        numeric = base in (int, float) and not is_tuple
        field_int = base is int
    if not numeric:
        raise ConfigError(f"'{word}': {name} is not a number, so it cannot be a range; list choices: {name}=a,b")
    ends = []
    for end in (low_text, high_text):
        try:
            ends.append(int(end) if field_int is not False and _looks_int(end) else float(end))
        except ValueError:
            raise ConfigError(f"'{word}': '{end.strip()}' is not a number") from None
    low, high = ends
    if not all(math.isfinite(e) for e in ends):
        raise ConfigError(f"'{word}': range ends must be finite numbers")
    integer = isinstance(low, int) and isinstance(high, int)
    if field_int and not integer:
        raise ConfigError(f"'{word}': {name} is an integer setting; give integer ends, e.g. {name}=4..32")
    if low >= high:
        raise ConfigError(f"'{word}': the low end must be below the high end")
    if log and low <= 0:
        raise ConfigError(f"'{word}': a log range needs a low end above 0, e.g. {name}=1e-5..1:log")
    for bound in (low, high):
        _check_alone(name, bound)
    return Range(name, low, high, log, integer)


def _looks_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def parse_word(word: str) -> Dim:
    """One `name=SPACE` word → a dimension; malformed input raises ConfigError naming the word."""
    raw_name, text = split_assignment(word)
    name = canonical_name(raw_name)
    if name in ("env", "env_kwargs", "seed"):
        hint = {"env": "use --env", "env_kwargs": "sweep env.NAME=v1,v2", "seed": "use --seeds K"}[name]
        raise ConfigError(f"'{word}': {name} cannot be swept this way; {hint}")
    if not text:
        raise ConfigError(f"'{word}' has no value after '='")
    if _RANGE_SEP in text and not text.lstrip().startswith("["):
        return _parse_range(name, word, text)
    items = _split_choices(text)
    if any(item == "" for item in items):
        raise ConfigError(f"'{word}' has an empty choice; write {name}=a,b,c")
    values = []
    for item in items:
        value = _typed(name, item)
        _check_alone(name, value)
        values.append(value)
    if len(set(map(format_value, values))) < len(values):
        raise ConfigError(f"'{word}' lists the same value twice")
    if len(values) == 1:
        return Fixed(name, values[0])
    return Choice(name, tuple(values))


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions of a sweep, in the order given."""

    dims: tuple[Dim, ...]

    @classmethod
    def parse(cls, words: list[str]) -> SearchSpace:
        dims = [parse_word(word) for word in words]
        seen: set[str] = set()
        for dim in dims:
            if dim.name in seen:
                raise ConfigError(f"{dim.name} is given twice; merge the values into one word")
            seen.add(dim.name)
        return cls(tuple(dims))

    @property
    def swept(self) -> tuple[Choice | Range, ...]:
        return tuple(d for d in self.dims if not isinstance(d, Fixed))

    @property
    def swept_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.swept)

    @property
    def is_grid(self) -> bool:
        """True when every swept dimension is a list of choices (no ranges)."""
        return all(isinstance(d, Choice) for d in self.swept)

    @property
    def grid_size(self) -> int:
        return math.prod(len(d.values) for d in self.swept if isinstance(d, Choice))

    @property
    def distinct_points(self) -> int | None:
        """How many distinct configurations the space holds: choices times integer ranges' widths; None
        when a float range makes it endless."""
        count = 1
        for dim in self.swept:
            if isinstance(dim, Choice):
                count *= len(dim.values)
            elif dim.integer:
                count *= int(dim.high) - int(dim.low) + 1
            else:
                return None
        return count

    def fixed(self) -> dict[str, Any]:
        return {d.name: d.value for d in self.dims if isinstance(d, Fixed)}

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of the choices (typed values), first dimension varying slowest."""
        if not self.is_grid:
            raise ConfigError("the space has ranges, so it is not a grid; use --sampler tpe or random")
        choices = [d for d in self.swept if isinstance(d, Choice)]
        return [
            dict(zip([d.name for d in choices], combo, strict=True))
            for combo in itertools.product(*(d.values for d in choices))
        ]

    def corner_points(self) -> list[dict[str, Any]]:
        """Every combination of the choices and the ranges' two ends: where a range meets a limit set by
        another setting (minibatch_size >= max_seq_len), one of these breaks it."""
        options = [d.values if isinstance(d, Choice) else (d.low, d.high) for d in self.swept]
        names = [d.name for d in self.swept]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*options)]

    def first_point(self) -> dict[str, Any]:
        """One point of the space (first choices, low ends of ranges), for checking a config early."""
        return {d.name: d.values[0] if isinstance(d, Choice) else d.low for d in self.swept}

    def encode_param(self, name: str, value: Any) -> Any:
        return encode_param(name, value)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Typed values of every swept dimension for this trial (fixed ones are in the base config)."""
        return {d.name: d.suggest(trial) for d in self.swept}

    def spec(self) -> list[dict[str, Any]]:
        """JSON description, stored on the study to detect a conflicting re-run."""
        return [d.spec() for d in self.swept]

    def describe(self) -> list[tuple[str, str]]:
        return [(d.name, d.describe()) for d in self.dims]

    def words(self) -> list[str]:
        """The canonical words that parse back to this space."""
        return [d.text() for d in self.dims]
