"""The keyframe editor in real headless Chromium: runs tests/browser/editor.test.mjs (see its README)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
HOW_TO_ENABLE = "apt-get install chromium (or set CHROMIUM_PATH); npm --prefix tests/browser ci"


def test_keyframe_editor_in_headless_chromium():
    """Opens, draws frames and beats, a drag writes a keyframe into the widget JSON, undo restores it, and
    dragging keyframe diamonds retimes them (snap to beat, refused drops, multi-select, clamping, ease menu)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"browser test skipped: Node.js is not installed; install Node.js 20, then {HOW_TO_ENABLE}")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM}; to enable: {HOW_TO_ENABLE}")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.skip(f"browser test skipped: playwright-core is not installed; to enable: {HOW_TO_ENABLE}")
    env = {**os.environ, "CHROMIUM_PATH": CHROMIUM, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    run = subprocess.run([node, str(BROWSER_DIR / "editor.test.mjs")], cwd=BROWSER_DIR, env=env,
                         capture_output=True, text=True, timeout=300)
    print(run.stdout)
    assert run.returncode == 0, f"browser test failed:\n{run.stdout}\n{run.stderr}"


def test_editor_modules_unit_checks_under_node():
    """Executed node ids inside subgraphs, the workflow id, bar/beat numbering from downbeats, the view extent,
    the node's keyframe summary and the shared palette, checked on the editor's own modules under Node.js."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("unit checks skipped: Node.js is not installed; install Node.js 20")
    run = subprocess.run([node, str(BROWSER_DIR / "units.test.mjs")], cwd=BROWSER_DIR, capture_output=True,
                         text=True, timeout=120)
    print(run.stdout)
    assert run.returncode == 0, f"unit checks failed:\n{run.stdout}\n{run.stderr}"
