"""Every link in the repository's Markdown resolves inside the repository (a reader has nothing else)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).exists()]


def test_every_relative_link_resolves_inside_the_repository() -> None:
    broken = []
    files = markdown_files()
    assert len(files) >= 5
    for doc in files:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)  # code is not a link
        for target in LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL or an anchor in the same file
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(REPO) or not path.exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
    assert not broken, broken


def test_no_document_cites_files_outside_the_repository() -> None:
    cited = [
        f"{doc.relative_to(REPO)}: {match}"
        for doc in markdown_files()
        for match in re.findall(r"(?:\.\./)?shared/docs/\S+", doc.read_text(encoding="utf-8"))
    ]
    assert not cited, cited
