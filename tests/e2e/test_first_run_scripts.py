"""The README's set-up scripts on a machine that cannot run meetbridge yet: each stops before
installing anything and names the one command that fixes it. (The path that works, on this machine's
own Pythons, is proven by scripts/check-first-run, which needs the package registry.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("bash", "cut", "dirname", "mkdir", "rm", "sed", "touch")


def checkout_with(tmp_path: Path, python3: str) -> tuple[Path, dict[str, str]]:
    """A copy of the scripts and a PATH holding only the shell tools they use and a stand-in python3."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("install-if-needed", "run", "test"):
        shutil.copy2(ROOT / "scripts" / name, project / "scripts" / name)
    shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    stand_in = bin_dir / "python3"
    stand_in.write_text(f"#!{shutil.which('bash')}\n{python3}")
    stand_in.chmod(0o755)
    return project, {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def run(project: Path, env: dict[str, str], script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"./scripts/{script}"], cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("script", ["run", "test"])
def test_a_python_older_than_311_is_named_with_the_fix(tmp_path: Path, script: str) -> None:
    old_python = """
case "$*" in
  -V) echo "Python 3.9.2" ;;
  *) exit 1 ;;  # every version check says "older than 3.11"
esac
"""
    project, env = checkout_with(tmp_path, old_python)
    result = run(project, env, script)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "meetbridge: meetbridge needs Python 3.11 or newer; python3 here is 3.9.2.",
        "meetbridge: Install a newer one (Debian/Ubuntu: sudo apt install python3.11 python3.11-venv) "
        "and run this again,",
        "meetbridge: or point MEETBRIDGE_PYTHON at it.",
    ]
    assert not (project / ".venv").exists()


def test_a_python_without_venv_is_named_with_the_package_that_brings_it(tmp_path: Path) -> None:
    # What Debian's python3 answers without python3-venv, and exactly that package's name in the fix.
    no_venv = f"""
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p .venv/bin
  echo "The virtual environment was not created successfully because ensurepip is not available."
  exit 1
fi
exec {sys.executable} "$@"
"""
    project, env = checkout_with(tmp_path, no_venv)
    result = run(project, env, "run")
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("creating the project's virtual environment in .venv with python3")
    assert lines[1:] == [
        "  The virtual environment was not created successfully because ensurepip is not available.",
        "meetbridge: python3 -m venv failed: Python's venv module (with ensurepip) is not installed.",
        f"meetbridge: On Debian/Ubuntu: sudo apt install python{major_minor}-venv   then run this again.",
    ]
    assert not (project / ".venv").exists()  # no half-made environment to trip the next run


def test_meetbridge_python_must_name_a_command(tmp_path: Path) -> None:
    project, env = checkout_with(tmp_path, f'exec {sys.executable} "$@"')
    result = run(project, {**env, "MEETBRIDGE_PYTHON": "python3.99"}, "test")
    assert (result.returncode, result.stderr) == (
        1,
        "meetbridge: MEETBRIDGE_PYTHON=python3.99 is not a command.\n",
    )
