"""Every citation in the repository leads somewhere a newcomer can follow: a file it names
exists in the repository, an anchor it names (`docs/law.md#receipt-of-a-dossier`) is a
heading of that markdown file, a relative link or anchor of README.md and docs/*.md is not
dead, and nothing cites the documents the project started from outside the repository
(its legal digest, its design notes, its numbered source documents: a clone has none of
them; docs/law.md and docs/architecture.md hold what they said, naming each source by its
own title).

Checked: every tracked .py, .md and .yaml file. A citation is a path that starts with one
of the repository's own top-level folders (`services/law/workdays.py`,
`services/law/catalog/catalog.v*.yaml`, `contracts/examples`), or README.md; markdown links
are read relative to their file. Anchors are GitHub's heading slugs: lowercased, every
character but letters (Vietnamese ones included), marks, digits, `_`, `-` and spaces
dropped, spaces made hyphens, a repeated heading numbered -1, -2."""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = (".py", ".md", ".yaml")
# The top-level folders whose paths count as citations.
FOLDERS = ("contracts", "services", "docs", "tests", "deploy", "bench", "tools",
           "monitoring")
# Outside the repository: a clone has none of them. Spelt in parts so that this file does
# not mention them itself; the last is the numbered source documents.
OUTSIDE = re.compile("|".join((r"\b(?i:" + "domain|design|engineering" + r")\.md\b",
                               r"\.\./" + "shared", r"\b(?i:" + "seeds?" + r")[ /]0\d\d")))
CITATION = re.compile(r"(?<![\w./-])(?P<path>(?:" + "|".join(FOLDERS) + r")/[\w.*/-]*[\w*]"
                      r"|README\.md)(?:#(?P<anchor>[\w-]+))?")
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")


@cache
def repository() -> frozenset[str]:
    """Every file the repository holds (git's tracked files: what a clone has), and every
    folder holding one; without git, what is on disk outside the virtualenv and var/."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout.decode()
        files = [n for n in out.split("\0") if n and (ROOT / n).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                 and not {".venv", "var", ".git"} & set(p.relative_to(ROOT).parts)]
    folders = {str(parent) for f in files for parent in Path(f).parents if str(parent) != "."}
    return frozenset(files) | frozenset(folders)


def tracked() -> list[Path]:
    """The repository's files of the checked kinds."""
    return sorted(ROOT / n for n in repository() if n.endswith(CHECKED)
                  and (ROOT / n).is_file())


def holds(path: Path) -> bool:
    """The repository holds this file or folder (a pattern: the folder it starts in)."""
    parts = path.relative_to(ROOT).parts
    if any("*" in part for part in parts):
        parts = parts[:next(i for i, part in enumerate(parts) if "*" in part)]
    return not parts or "/".join(parts) in repository()


def slug(text: str) -> str:
    """GitHub's anchor of a heading's text (github-slugger)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "").replace("*", "")
    kept = [c for c in text.lower() if c in " -_"
            or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc"]
    return "".join(kept).replace(" ", "-")


def outside_fences(lines: Iterable[str]) -> Iterable[tuple[int, str]]:
    """(line number, line) of the lines not inside a fenced code block."""
    fenced = False
    for no, line in enumerate(lines, 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield no, line


def anchors_of(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in outside_fences(text.splitlines()):
        if m := HEADING.match(line):
            base = slug(m["text"])
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", line))
    return found


@cache
def anchors(path: Path) -> frozenset[str]:
    return frozenset(anchors_of(path.read_text(encoding="utf-8")))


def target_problem(target: Path, anchor: str | None, own: set[str] | None = None
                   ) -> str | None:
    """What is wrong with a citation of `target` (and `anchor`), or None; `own`: the
    anchors of the text being checked, for a link to its own part."""
    if not holds(target):
        return f"{target.relative_to(ROOT)} is not in the repository"
    if anchor and target.suffix == ".md" and "*" not in target.name:
        headings = own if own is not None else anchors(target)
        if anchor not in headings:
            return f"{target.relative_to(ROOT)} has no heading #{anchor}"
    return None


def problems_in(path: Path, text: str) -> list[str]:
    """Every dead citation and outside mention of one file, as `file:line: problem`, in
    line order. In markdown, fenced code (commands, which may name what they create) is
    not read for citations."""
    name = path.relative_to(ROOT)
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    for no, line in enumerate(lines, 1):
        if m := OUTSIDE.search(line):
            out.append((no, f"cites {m.group()} (outside the repository): cite docs/law.md "
                            "or docs/architecture.md"))
    prose = list(outside_fences(lines)) if path.suffix == ".md" else list(
        enumerate(lines, 1))
    for no, line in prose:
        for c in CITATION.finditer(line):
            if problem := target_problem(ROOT / c["path"], c["anchor"]):
                out.append((no, f"{c.group()}: {problem}"))
        if path.suffix != ".md":
            continue
        for link in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            target = link["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
                continue  # another site, a mail address, the site root
            file_part, _, anchor = target.partition("#")
            if not file_part:
                if anchor not in anchors_of(text):
                    out.append((no, f"({target}): no heading #{anchor} here"))
                continue
            dest = Path(os.path.normpath(path.parent / file_part))
            if not dest.is_relative_to(ROOT):
                out.append((no, f"({target}) leads outside the repository"))
            elif problem := target_problem(dest, anchor or None):
                out.append((no, f"({target}): {problem}"))
    return [f"{name}:{no}: {problem}" for no, problem in sorted(out, key=lambda o: o[0])]


def test_every_citation_leads_somewhere() -> None:
    problems = [p for path in tracked()
                for p in problems_in(path, path.read_text(encoding="utf-8"))]
    assert not problems, "dead citations:\n" + "\n".join(problems)


def test_the_law_page_is_cited_by_the_code() -> None:
    """The code cites the law's sections, not only the page."""
    cited = {c["anchor"] for path in tracked()
             if path.suffix != ".md"
             for c in CITATION.finditer(path.read_text(encoding="utf-8"))
             if c["path"] == "docs/law.md" and c["anchor"]}
    assert len(cited) >= 10, cited


# --- the checker itself ---------------------------------------------------------------


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Receipt of a dossier", "receipt-of-a-dossier"),
    ("The 15:00 rules", "the-1500-rules"),
    ("Một cửa điện tử tập trung — the national e-one-stop of Vietnam Social Security",
     "một-cửa-điện-tử-tập-trung--the-national-e-one-stop-of-vietnam-social-security"),
    ("Other agencies (liên thông) and `delay_attribution`",
     "other-agencies-liên-thông-and-delay_attribution"),
    ("Evaluation (Art. 30–31)", "evaluation-art-3031"),
    ("HTTP, in one minute", "http-in-one-minute"),
    ("[Linked](https://example.org) title", "linked-title"),
])
def test_slugs_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_repeated_heading_is_numbered() -> None:
    text = "# Notes\n## Notes\n```\n## Not a heading\n```\n## Notes\n"
    assert anchors_of(text) == {"notes", "notes-1", "notes-2"}


def test_the_checker_finds_dead_links_anchors_and_outside_mentions() -> None:
    page = ROOT / "docs" / "example.md"
    text = "\n".join([
        "See [the layers](architecture.md#the-layers) and [its top](#example).",
        "# Example",
        "Dead: [gone](missing.md), [no such part](law.md#nowhere), "
        "services/law/" + "nowhere.py, docs/law.md" + "#nowhere-either.",
        "Fine: services/law/workdays.py, services/law/catalog/catalog.v*.yaml, "
        "[README](../README.md#two-commands), https://example.org/x.md.",
        "Outside: see " + "domain" + ".md section 4.",
        "Also outside: " + "Seed" + " 002, step 3(2), and " + "Domain" + ".md section 1.",
    ])
    found = problems_in(page, text)
    assert [p.split(":")[1] for p in found] == ["3", "3", "3", "3", "5", "6"]
    assert any("docs/" + "missing.md is not in the repository" in p for p in found)
    assert any("has no heading #nowhere" in p for p in found)
    assert any("services/law/" + "nowhere.py is not in the repository" in p for p in found)
    assert any("has no heading #nowhere-either" in p for p in found)
    assert all("outside the repository" in p for p in found[-2:])
