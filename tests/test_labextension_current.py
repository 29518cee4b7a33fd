"""The committed review panel build (explorer/labextension) was built from the committed sources.

The built files are in git so that `pip install` from a clone needs no Node (scripts/demo.sh runs with none).
The build script records the sources' fingerprint; a source change without a rebuild fails here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "extensions"
BUILT = ROOT / "explorer" / "labextension"
SOURCES = ("package.json", "tsconfig.json", "src", "style")


def source_fingerprint() -> str:
    """Same recipe as extensions/scripts/build-labextension.mjs: each file's path and the SHA-256 of its bytes."""
    files = []
    for name in SOURCES:
        path = EXTENSION / name
        files += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    digest = hashlib.sha256()
    for rel in sorted(p.relative_to(EXTENSION).as_posix() for p in files):
        digest.update(f"{rel}\n{hashlib.sha256((EXTENSION / rel).read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


def test_built_panel_is_committed_and_current():
    stamp = BUILT / "source.sha256"
    assert (BUILT / "package.json").is_file() and (BUILT / "static" / "style.js").is_file(), "explorer/labextension is missing"
    assert stamp.is_file(), "explorer/labextension/source.sha256 is missing: rebuild with `jlpm build:prod` in extensions/"
    assert stamp.read_text().strip() == source_fingerprint(), (
        "explorer/labextension is stale: the review panel's sources changed since it was built. "
        "Run `jlpm install && jlpm build:prod` in extensions/ (venv active) and commit explorer/labextension.")
