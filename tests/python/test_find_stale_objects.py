"""scripts/find_stale_objects.py against a real Ninja tree whose one "compile" changes its own
header while it runs (as a `git merge` during a build did to c_adapter.cpp.o of build/tsan):
Ninja then has nothing to rebuild, and the script names the object and the header.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "find_stale_objects.py"

pytestmark = pytest.mark.skipif(shutil.which("ninja") is None, reason="ninja is not installed")

# A compiler stand-in: reads its source and header, optionally rewrites the header (the merge
# during the build), then writes the object and a depfile naming both inputs.
COMPILE = """
import sys
from pathlib import Path
source, output = Path(sys.argv[1]), Path(sys.argv[2])
text = source.read_text() + Path("header.h").read_text()
if Path("change-header-mid-compile").exists():
    Path("header.h").write_text("struct Error { int retry_after; };\\n")
output.write_text(text)
Path(str(output) + ".d").write_text(f"{output}: {source} header.h\\n")
"""

BUILD_NINJA = f"""
rule compile
  command = {sys.executable} compile.py $in $out
  depfile = $out.d
  deps = gcc
build out.o: compile src.c
"""


def make_tree(tree: Path, change_mid_compile: bool) -> None:
    (tree / "compile.py").write_text(COMPILE)
    (tree / "build.ninja").write_text(BUILD_NINJA)
    (tree / "src.c").write_text('#include "header.h"\n')
    (tree / "header.h").write_text("struct Error { };\n")
    an_hour_ago = time.time() - 3600
    for name in ("compile.py", "build.ninja", "src.c", "header.h"):
        os.utime(tree / name, (an_hour_ago, an_hour_ago))
    if change_mid_compile:
        (tree / "change-header-mid-compile").touch()


def ninja(tree: Path, *args: str) -> str:
    done = subprocess.run(["ninja", "-C", str(tree), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def find_stale(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, str(tree)], capture_output=True, text=True
    )


def test_an_object_compiled_while_its_header_changed_is_named_and_deleted(tmp_path: Path) -> None:
    make_tree(tmp_path, change_mid_compile=True)
    ninja(tmp_path)
    # The trap: the object predates nothing it depends on, so Ninja keeps it.
    assert "no work to do" in ninja(tmp_path, "-n")

    found = find_stale(tmp_path)
    assert found.returncode == 1, found
    assert "out.o: compiled while these changed" in found.stdout, found.stdout
    assert "header.h" in found.stdout and "src.c" not in found.stdout, found.stdout

    deleted = find_stale(tmp_path, "--delete")
    assert deleted.returncode == 0, deleted
    assert not (tmp_path / "out.o").exists()
    (tmp_path / "change-header-mid-compile").unlink()
    ninja(tmp_path)
    assert "retry_after" in (tmp_path / "out.o").read_text()
    assert find_stale(tmp_path).stdout == ""


def test_a_tree_built_from_unchanging_sources_has_nothing_stale(tmp_path: Path) -> None:
    make_tree(tmp_path, change_mid_compile=False)
    ninja(tmp_path)
    found = find_stale(tmp_path)
    assert (found.returncode, found.stdout) == (0, ""), found


def test_a_directory_that_is_no_ninja_tree_is_refused(tmp_path: Path) -> None:
    found = find_stale(tmp_path)
    assert found.returncode == 2
    assert "no .ninja_log" in found.stdout
