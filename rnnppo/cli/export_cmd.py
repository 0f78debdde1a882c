"""`rnnppo export`: write a trained run's policy step as a self-contained ONNX or torch.export file."""

from __future__ import annotations

from pathlib import Path

import typer

from rnnppo.cli.common import check_writable, console, fail, user_errors

SUFFIXES = {"onnx": ".onnx", "torch-export": ".pt2"}


def export(
    run_dir: Path = typer.Argument(..., help="a run folder written by train or sweep"),
    fmt: str = typer.Option("onnx", "--format", help="onnx (needs rnnppo[onnx]) or torch-export (.pt2)"),
    out: Path = typer.Option(None, "--out", help="file to write (default: RUN_DIR/policy.onnx or policy.pt2)"),
) -> None:
    """Export the policy's step (observation filter included, recurrent state in and out) for deployment."""
    from rnnppo.core.runs.evaluation import load_run_policy
    from rnnppo.core.runs.export import FORMATS, export

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}")
    target = out if out is not None else Path(run_dir) / f"policy{SUFFIXES[fmt]}"
    if target.is_dir():
        fail(f"--out {target} is a folder; give a file name")
    with user_errors():
        _, policy = load_run_policy(run_dir)
    check_writable(target.parent)
    with user_errors():
        target.parent.mkdir(parents=True, exist_ok=True)
        info = export(policy, fmt, target)
    inputs = ", ".join(_shown_input(name, size) for name, size in info["inputs"].items())
    console.print(
        f"wrote {target} ({fmt}): inputs {inputs} (state: zeros at an episode start); outputs "
        f"{', '.join(info['outputs'])}"
    )


def _shown_input(name: str, size: object) -> str:
    """`obs [B, 4]`, `prev_reward [B]`, an image part `obs.image [B, 7, 7, 3]` (its own shape, as the env gives it)."""
    if isinstance(size, dict):  # an observation part: its shape and dtype
        dims, dtype = size["shape"], f" {size['dtype']}"
    else:
        dims, dtype = ([] if name == "prev_reward" else [size]), ""
    return f"{name}{dtype} [{', '.join(['B', *(str(d) for d in dims)])}]"
