"""mkdocs hooks: the site's home page is the README (links rewritten for the site), and the reference pages
are regenerated from the code before every build, so the site never shows a stale option or setting."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent


def on_pre_build(config, **kwargs) -> None:
    from rnnppo.cli.reference import write_pages

    write_pages(ROOT / "docs" / "reference")


def on_files(files: Files, config, **kwargs) -> Files:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    home = re.sub(r"\]\(docs/", "](", readme)
    home = home.replace("commands and settings (generated", "[commands](reference/commands.md) and [settings](reference/settings.md) (generated")
    files.append(File.generated(config, "index.md", content=home))
    return files
