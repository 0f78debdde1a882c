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
    sizes = info["inputs"]
    console.print(
        f"wrote {target} ({fmt}): inputs obs [B, {sizes['obs']}], prev_action [B, {sizes['prev_action']}], "
        f"prev_reward [B], state [B, {sizes['state']}] (zeros at an episode start); outputs "
        f"{', '.join(info['outputs'])}"
    )
