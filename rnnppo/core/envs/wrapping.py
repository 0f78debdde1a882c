"""Applying wrapper specs: import each wrapper (from the current folder too) and wrap an env with it.

A wrapper whose constructor fails raises EnvError naming the wrapper, not the env it wrapped. Only a
gymnasium.Wrapper subclass or a Python function is called (never a builtin like print, or another class),
and what it returns must be an env.
"""

from __future__ import annotations

import inspect
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
    wrapper_class = isinstance(target, type) and issubclass(target, gym.Wrapper)
    if not (wrapper_class or inspect.isfunction(target)):
        # A class that is not a gymnasium wrapper, a builtin (print), any other object: calling it with the
        # env would do whatever it does, so it is never called.
        raise EnvError(
            f"wrapper '{spec.text}' is not a gymnasium wrapper; give a gymnasium.Wrapper subclass or a Python "
            "function that takes the env and returns the wrapped env"
        )
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
                wrapped = target(env, **spec.kwargs)
            except Exception as err:  # the wrapper's constructor, not the env, failed
                raise EnvError(f"wrapper '{spec.text}' failed to build: {type(err).__name__}: {err}") from err
            if not isinstance(wrapped, gym.Env):
                raise EnvError(
                    f"wrapper '{spec.text}' returned {type(wrapped).__name__}, not an env; a wrapper function "
                    "must return the wrapped gymnasium env"
                )
            return wrapped

        builders.append(build)
    return builders
