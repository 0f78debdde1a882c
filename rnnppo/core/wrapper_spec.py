"""Wrapper specs: `package.module:Wrapper(key=literal, ...)` parsed safely (ast, never eval).

A spec is kept as the text the user gave (config.json records it as given); it is parsed into a
`WrapperSpec` when the config is validated and again when envs are made. Keyword values are Python
literals (numbers, strings, booleans, None, tuples/lists/dicts of them), read with `ast.literal_eval`:
`gymnasium.wrappers:TimeLimit(max_episode_steps=50)`. Positional arguments are refused: a keyword
names what it sets, so a spec reads the same in a config file a year later.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rnnppo.errors import InputError


class WrapperSpecError(InputError):
    """A wrapper spec that is not `package.module:Name` or `package.module:Name(key=literal, ...)`."""


@dataclass(frozen=True)
class WrapperSpec:
    text: str  # as the user wrote it
    module: str
    name: str  # attribute of the module; may be dotted (Outer.Inner)
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def parse_wrapper(text: str) -> WrapperSpec:
    """`pkg.mod:Name` or `pkg.mod:Name(a=1, b="x")` -> WrapperSpec; anything else raises WrapperSpecError."""
    text = text.strip()
    example = "e.g. gymnasium.wrappers:TimeLimit(max_episode_steps=50)"
    module, colon, call = text.partition(":")
    module = module.strip()
    if not colon or not module or not all(part.isidentifier() for part in module.split(".")):
        raise WrapperSpecError(
            f"wrapper '{text}' must look like package.module:Name or package.module:Name(key=value, ...), " + example
        )
    try:
        tree = ast.parse(call.strip(), mode="eval").body
    except SyntaxError as err:
        raise WrapperSpecError(f"wrapper '{text}' is not valid: {err.msg}; {example}") from None
    kwargs: dict[str, Any] = {}
    if isinstance(tree, ast.Call):
        if tree.args:
            raise WrapperSpecError(f"wrapper '{text}' has positional arguments; name each one (key=value), {example}")
        for keyword in tree.keywords:
            if keyword.arg is None:
                raise WrapperSpecError(f"wrapper '{text}': ** is not allowed; write each key=value")
            try:
                kwargs[keyword.arg] = ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                source = ast.get_source_segment(call.strip(), keyword.value) or "?"
                raise WrapperSpecError(
                    f"wrapper '{text}': {keyword.arg}={source} is not a literal "
                    "(numbers, strings, true/false as True/False, None, lists, tuples, dicts)"
                ) from None
        tree = tree.func
    name = _dotted_name(tree)
    if name is None:
        raise WrapperSpecError(f"wrapper '{text}' must name a class or function after ':', {example}")
    return WrapperSpec(text, module, name, kwargs)


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted_name(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def split_specs(text: str) -> tuple[str, ...]:
    """A comma-separated list of specs (a CLI word `wrappers=[a:B, c:D(x=1, y=2)]`), split only at commas
    outside brackets and quotes."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return tuple(part for part in parts if part)
