"""write.py: generated/ is replaced all at once, or compared for --check."""

from __future__ import annotations

from pathlib import Path

from generator.write import stale, write_tree

FILES = {"__init__.py": '"""pkg"""\n', "a.py": "A = 1\n", "tests/test_a.py": "def test(): pass\n"}


def test_write_tree_creates_exactly_the_files(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert write_tree(FILES, out) is True
    written = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert written == FILES


def test_write_tree_removes_files_no_spec_produces(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    write_tree({**FILES, "old.py": "OLD = 1\n"}, out)
    write_tree(FILES, out)
    assert not (out / "old.py").exists()
    assert (out / "a.py").read_text() == "A = 1\n"


def test_write_tree_leaves_an_unchanged_tree_alone(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    write_tree(FILES, out)
    before = (out / "a.py").stat().st_mtime_ns
    assert write_tree(FILES, out) is False
    assert (out / "a.py").stat().st_mtime_ns == before


def test_write_tree_leaves_no_temporary_directories(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    write_tree(FILES, out)
    write_tree({**FILES, "a.py": "A = 2\n"}, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated"]


def test_stale_lists_changed_missing_and_extra_files(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    write_tree(FILES, out)
    (out / "a.py").write_text("A = 99\n")
    (out / "tests" / "test_a.py").unlink()
    (out / "extra.py").write_text("")
    assert stale(FILES, out) == ["a.py", "extra.py", "tests/test_a.py"]


def test_stale_ignores_caches_left_by_python(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    write_tree(FILES, out)
    (out / "__pycache__").mkdir()
    (out / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert stale(FILES, out) == []


def test_stale_on_a_missing_directory_lists_everything(tmp_path: Path) -> None:
    assert stale(FILES, tmp_path / "nowhere") == sorted(FILES)
