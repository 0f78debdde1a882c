"""Print pip constraints that pin every declared dependency (and the dev extra's) to its floor: `name>=X`
becomes `name==X`. CI installs them in a second environment and runs the fast tests there, so a floor that
no longer works fails CI instead of a user's install. torch is left out: CI can only install the CPU build
of the version it pins (other torch wheels are multi-GB CUDA builds)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SKIP = {"torch"}


def floors(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*", requirement)
        if match is None:
            raise SystemExit(f"{requirement!r} has no plain `>=` floor; give it one (or teach .ci/floors.py)")
        name, _, version = match.groups()
        if name.lower() not in SKIP:
            pins.append(f"{name}=={version}")
    return pins


if __name__ == "__main__":
    print("\n".join(floors(Path(__file__).resolve().parent.parent / "pyproject.toml", sys.argv[1:])))
