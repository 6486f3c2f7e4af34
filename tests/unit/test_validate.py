"""twgtm.validate: the one validation layer behind the nodes, the CLI, the batch path and the Python API."""
from __future__ import annotations

import pytest

from twgtm.errors import InputError
from twgtm.validate import check_image_path, check_writable


def test_output_paths_are_checked_without_creating_anything(tmp_path):
    nested = tmp_path / "new" / "deeper" / "out.png"
    assert check_writable(nested) == nested and not (tmp_path / "new").exists()
    assert check_writable(tmp_path / "outputs", folder=True) == tmp_path / "outputs"
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="file.txt is a file, not a folder"):
        check_writable(tmp_path / "file.txt" / "out.png", "--out")
    with pytest.raises(InputError, match="is a file, not a folder; give a folder"):
        check_writable(tmp_path / "file.txt", "--out", folder=True)
    with pytest.raises(InputError, match="is a folder; give a file path inside it"):
        check_writable(tmp_path, "--out")
    with pytest.raises(InputError, match=r"suffix '\.safetensors' names no image format"):
        check_image_path(tmp_path / "out.safetensors")
    assert check_image_path(tmp_path / "out.webp").suffix == ".webp"
