"""Reading `--env`: a registered id, gymnasium's `module:EnvId`, or a class path `package.module:ClassName`.

`module:X` is read by what the module holds once imported: an attribute `X` (a gymnasium.Env subclass)
is a class path; otherwise `X` must be an id the import registered, exactly as `gymnasium.make` reads
`module:EnvId` (`minigrid:MiniGrid-MemoryS7-v0`, `ale_py:ALE/Pong-v5`). Modules are importable from the
current folder, as with `python -m`. The text is kept as given (config.json records it), so eval,
exports and sweeps make the same env again.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from rnnppo.core.envs import builtin as builtin_envs
from rnnppo.errors import EnvError

# Packages that register ids when imported: import name -> (pip name, id prefixes they register). An id
# with one of these prefixes that is not registered yet gets a did-you-mean with the `module:` form.
KNOWN_ENV_PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "minigrid": ("minigrid", ("MiniGrid-", "BabyAI-")),
    "ale_py": ("ale-py", ("ALE/",)),
    "miniworld": ("miniworld", ("MiniWorld-",)),
    "popgym": ("popgym", ("popgym-",)),
    "memory_gym": ("memory-gym", ("MortarMayhem", "MysteryPath", "SearingSpotlights", "Endless")),
    "gymnasium_robotics": ("gymnasium-robotics", ("Fetch", "HandManipulate", "AntMaze_", "PointMaze_", "Adroit")),
    "highway_env": ("highway-env", ("highway-", "merge-", "roundabout-", "parking-", "intersection-")),
    "shimmy": ("shimmy", ("dm_control/",)),
}


def import_user_module(name: str) -> Any:
    """Import a module named in --env or --wrapper, from the current folder too (as `python -m` does;
    the console script `rnnppo` alone would not put the folder on sys.path)."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)


def is_module_path(text: str) -> bool:
    """`a.b:X` where `a.b` is a dotted Python name (so `rnnppo/Foo-v0` or a bare id is not)."""
    module, colon, rest = text.partition(":")
    return bool(colon and rest) and all(part.isidentifier() for part in module.split("."))


def base_env_maker(env_text: str, kwargs: Mapping[str, Any]) -> Callable[[], gym.Env]:
    """A zero-argument function that makes the (unwrapped) env `env_text` names, with `kwargs`."""
    builtin_envs.register()
    kwargs = dict(kwargs)
    if not is_module_path(env_text):
        _check_registered(env_text)

        def make_registered() -> gym.Env:
            builtin_envs.register()  # again in a worker process (vector_mode=async), which starts afresh
            return gym.make(env_text, **kwargs)

        return make_registered

    module_name, _, attr = env_text.partition(":")
    try:
        module = import_user_module(module_name)
    except ImportError as err:
        raise EnvError(f"cannot import module '{module_name}' for environment '{env_text}': {err}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            break
    if target is not None:
        if not (isinstance(target, type) and issubclass(target, gym.Env)):
            raise EnvError(f"'{env_text}' is not a gymnasium.Env subclass")
        cls = target
        return lambda: cls(**kwargs)
    if attr in gym.registry:
        # gymnasium's own `module:EnvId` form: make imports the module (again, in a worker process) itself
        return lambda: gym.make(env_text, **kwargs)
    close = difflib.get_close_matches(attr, list(gym.registry), n=1, cutoff=0.6)
    hint = f"; did you mean '{module_name}:{close[0]}'?" if close else ""
    raise EnvError(
        f"module '{module_name}' has no class '{attr}' and registers no env id '{attr}' "
        f"(from environment '{env_text}'){hint}"
    )


def _check_registered(env_id: str) -> None:
    if env_id in gym.registry:
        return
    for module_name, (pip_name, prefixes) in KNOWN_ENV_PACKAGES.items():
        if not env_id.startswith(prefixes):
            continue
        if importlib.util.find_spec(module_name) is None:
            raise EnvError(
                f"unknown environment '{env_id}': ids like it are registered by the package {pip_name}; "
                f"`pip install {pip_name}`, then use --env {module_name}:{env_id}"
            )
        try:
            importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - a broken install: the hint below still names the form to use
            pass
        close = [env_id] if env_id in gym.registry else difflib.get_close_matches(env_id, list(gym.registry), n=1)
        if close:
            raise EnvError(
                f"unknown environment '{env_id}'; did you mean '{module_name}:{close[0]}'? "
                f"(the {module_name} package registers it when imported)"
            )
    close = difflib.get_close_matches(env_id, list(gym.registry), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else "; `rnnppo envs` lists the built-in ones"
    raise EnvError(f"unknown environment '{env_id}'{hint}")
