"""Applying wrapper specs: import each wrapper (from the current folder too) and wrap an env with it.

A wrapper whose constructor fails raises EnvError naming the wrapper, not the env it wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from rnnppo.core.envs.ids import EnvError, import_user_module
from rnnppo.core.wrapper_spec import WrapperSpec, WrapperSpecError, parse_wrapper


def _resolve(spec: WrapperSpec) -> Callable[..., gym.Env]:
    try:
        target: Any = import_user_module(spec.module)
    except ImportError as err:
        raise EnvError(f"cannot import module '{spec.module}' for wrapper '{spec.text}': {err}") from None
    for part in spec.name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise EnvError(f"module '{spec.module}' has no '{spec.name}' (wrapper '{spec.text}')") from None
    if not callable(target):
        raise EnvError(f"wrapper '{spec.text}' is not callable")
    return target


def wrapper_builders(texts: tuple[str, ...]) -> list[Callable[[gym.Env], gym.Env]]:
    """One function per spec that wraps an env; a wrapper that fails to build raises EnvError naming it."""
    builders: list[Callable[[gym.Env], gym.Env]] = []
    for text in texts:
        try:
            spec = parse_wrapper(text)
        except WrapperSpecError as err:
            raise EnvError(str(err)) from None
        target = _resolve(spec)

        def build(env: gym.Env, spec: WrapperSpec = spec, target: Callable[..., gym.Env] = target) -> gym.Env:
            try:
                return target(env, **spec.kwargs)
            except Exception as err:  # the wrapper's constructor, not the env, failed
                raise EnvError(f"wrapper '{spec.text}' failed to build: {type(err).__name__}: {err}") from err

        builders.append(build)
    return builders
