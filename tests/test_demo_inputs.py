"""Demo files reach ComfyUI's input folder when they can; a folder that cannot be written never stops the pack."""

from __future__ import annotations

import logging

from conftest import REPO_ROOT, load_pack

DEMO_NAMES = ["choreo_demo_track.ogg", "choreo_demo_character.png", "choreo_demo_character_pose.json"]


def test_demo_files_are_copied_once_and_never_overwritten(pack, tmp_path, monkeypatch):
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(tmp_path / "input"))
    demo_inputs = pack.nodes.demo_inputs
    assert demo_inputs.install_demo_inputs() == DEMO_NAMES
    copied = (tmp_path / "input" / "choreo_demo_track.ogg").read_bytes()
    assert copied == (REPO_ROOT / "assets" / "demo_track.ogg").read_bytes()
    (tmp_path / "input" / "choreo_demo_character.png").write_bytes(b"the user's own file")
    assert demo_inputs.install_demo_inputs() == []
    assert (tmp_path / "input" / "choreo_demo_character.png").read_bytes() == b"the user's own file"


def test_an_input_folder_that_cannot_be_created_logs_a_warning_naming_it(pack, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(blocker / "input"))
    with caplog.at_level(logging.WARNING):
        assert pack.nodes.demo_inputs.install_demo_inputs() == []
    assert str(blocker / "input") in caplog.text and "make the folder writable" in caplog.text


def test_a_read_only_input_folder_leaves_no_half_file_and_only_warns(pack, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(tmp_path))

    def read_only_replace(source, target):  # the rename into place is where a read-only folder refuses
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr("os.replace", read_only_replace)
    with caplog.at_level(logging.WARNING):
        assert pack.nodes.demo_inputs.install_demo_inputs() == []
    assert "Permission denied" in caplog.text and str(tmp_path) in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_the_pack_imports_when_the_input_folder_cannot_be_written(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CHOREO_INPUT_DIR", str(blocker / "input"))
    with caplog.at_level(logging.WARNING):
        pack = load_pack("choreo_pack_with_read_only_input")
    assert "ChoreoAnalyzeMusic" in pack.NODE_CLASS_MAPPINGS
    assert str(blocker / "input") in caplog.text
