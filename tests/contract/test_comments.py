"""Code says why, not when: no issue numbers in the code's comments or strings. The history
of a change is in git and its measurements under bench/results/; a comment naming an issue
sends a newcomer to a tracker the clone does not hold."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = {".py", ".js", ".yaml", ".yml", ".toml", ".j2", ".html", ".css", ".sh", ".cfg", ".ini"}
NAMES = {"Makefile", "Dockerfile"}
VENDORED = ("tests/e2e/vendor/",)
ISSUE = re.compile(r"\b[Ii]ssues? \d+")


def tracked_code() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return [ROOT / n for n in names
            if (Path(n).suffix in CODE or Path(n).name in NAMES)
            and not n.startswith(VENDORED) and (ROOT / n).is_file()]


def test_no_issue_numbers_in_code() -> None:
    this = Path(__file__).resolve()
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in tracked_code() if path != this
             for n, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1)
             if ISSUE.search(line)]
    assert not found, "issue numbers in code (history goes to git):\n" + "\n".join(found)


def test_the_check_finds_one() -> None:
    assert ISSUE.search("# slower since issue 22, item 3")
    assert not ISSUE.search("# the issuer 22 of the token")
