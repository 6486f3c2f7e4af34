"""The documentation stays true: README.md and docs/*.md link only to what exists, and their commands parse.

- Every relative link and image (`[text](path#anchor)`) resolves to a file or folder of the repository,
  and its `#anchor` to a heading of the target page (GitHub's anchor rules).
- Every `python -m MODULE ...` line (in code blocks, continuation lines joined, and in inline code) names
  a module that exists, and each `--flag` on it is listed by that command's `--help` (the sub-commands
  the line names included: `python -m twgtm a2a tryon --help`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import runpy
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OWN_PACKAGES = ("twgtm", "training", "tests")  # run in this process; other modules (pytest) in a subprocess
SELECTORS = {"--family": 1, "--batch-job": 0}  # options that choose which parser a command builds (and how many
# values they take): passed on to its --help
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
MODULE_COMMAND = re.compile(r"python -m [A-Za-z_][\w.]*(?![\w.]).*")  # to the end of the line
SHELLS = ("bash", "sh", "shell", "console", "bat")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _lines_outside_code(text: str) -> list[str]:
    """The page's lines that are not inside a fenced code block."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a markdown page (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    for line in _lines_outside_code(page.read_text()):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        yield base if count == 0 else f"{base}-{count}"


def _links(page: Path) -> list[str]:
    text = "\n".join(_lines_outside_code(page.read_text()))
    text = re.sub(r"`[^`]*`", "", text)  # code spans are not links
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_and_anchors_resolve(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved} "
                          "does not exist")
        elif anchor and (resolved.suffix != ".md" or anchor not in set(anchors(resolved))):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def commands(page: Path) -> list[str]:
    """The `python -m MODULE` command lines of a page: shell code-block lines (continuations joined) and inline code.

    A `python -m` followed by no module name (`python -m ...` in prose) is not a command.
    """
    text = page.read_text()
    found, fenced, shell, pending = [], False, False, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced, pending = not fenced, ""
            shell = fenced and line.strip()[3:].strip() in SHELLS
            continue
        if not shell:
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        code = " ".join(re.split(r"\s#\s", line, maxsplit=1)[0].split())  # a trailing comment is not part of the command
        found += MODULE_COMMAND.findall(code)
    outside = "\n".join(_lines_outside_code(text))
    for span in re.findall(r"`([^`]+)`", outside, flags=re.S):
        found += MODULE_COMMAND.findall(" ".join(span.split()))
    return found


def _parse(command: str) -> tuple[str, list[str], list[str]]:
    """(module, the sub-commands it names, its --flags)."""
    tokens = command.split()[2:]
    module, rest = tokens[0], tokens[1:]
    sub = []
    for token in rest[:2]:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", token):
            break
        sub.append(token)
    selectors = []
    for i, token in enumerate(rest):
        if token in SELECTORS and i + SELECTORS[token] < len(rest):
            selectors += rest[i:i + 1 + SELECTORS[token]]
    return module, sub + selectors, sorted(set(FLAG.findall(" ".join(rest))))


def _help(module: str, args: tuple[str, ...]) -> str:
    """The `--help` text of `python -m module args...`."""
    if module.split(".")[0] not in OWN_PACKAGES:
        out = subprocess.run([sys.executable, "-m", module, *args, "--help"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        return out.stdout + out.stderr
    buffer, saved = io.StringIO(), sys.argv
    sys.argv = [module, *args, "--help"]
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: the package imported its __main__ already
            runpy.run_module(module, run_name="__main__", alter_sys=False)
    except SystemExit:
        pass
    finally:
        sys.argv = saved
    return buffer.getvalue()


def _all_commands() -> list[tuple[str, str]]:
    return [(page.relative_to(ROOT).as_posix(), command) for page in PAGES for command in commands(page)]


def test_the_pages_show_commands():
    found = _all_commands()
    modules = {_parse(command)[0] for _, command in found}
    assert len(found) > 30 and {"twgtm", "twgtm.bench", "twgtm.eval", "training.run"} <= modules, modules


def _check_commands(own: bool) -> None:
    """Every `python -m` line of the pages whose module is (`own`) or is not one of this repository's packages."""
    helps: dict[tuple[str, tuple[str, ...]], str] = {}
    problems = []
    for where, command in _all_commands():
        module, args, flags = _parse(command)
        if (module.split(".")[0] in OWN_PACKAGES) != own:
            continue
        spec = importlib.util.find_spec(module)
        if spec is None:
            problems.append(f"{where}: no module {module} ({command})")
            continue
        if spec.submodule_search_locations is not None and importlib.util.find_spec(f"{module}.__main__") is None:
            problems.append(f"{where}: package {module} has no __main__ ({command})")
            continue
        key = (module, tuple(args))
        if key not in helps:
            helps[key] = _help(module, key[1])
        text = helps[key]
        if "usage:" not in text:
            problems.append(f"{where}: `python -m {module} {' '.join(args)} --help` printed no usage")
            continue
        missing = [flag for flag in flags if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)]
        if missing:
            problems.append(f"{where}: {missing} not options of `python -m {module} {' '.join(args)}` ({command})")
    assert not problems, "\n".join(problems)


def test_every_python_m_line_names_a_module_and_flags_that_exist():
    """This repository's programs, in this process."""
    _check_commands(own=True)


@pytest.mark.slow  # a Python process of its own for each other program (pytest)
def test_every_python_m_line_of_other_programs_names_flags_that_exist():
    _check_commands(own=False)


def test_the_link_checker_sees_a_broken_link_and_a_wrong_flag(tmp_path):
    """The checks themselves: a missing file, a missing anchor and an unknown flag are found."""
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A section (with punctuation)\n\n[ok](#a-section-with-punctuation) [bad](#nowhere) "
                    "[gone](missing.md)\n\n```bash\npython -m twgtm tryon --person P.png \\\n    --no-such-flag 1\n```\n")
    assert set(anchors(page)) == {"title", "a-section-with-punctuation"}
    assert _links(page) == ["#a-section-with-punctuation", "#nowhere", "missing.md"]
    assert commands(page) == ["python -m twgtm tryon --person P.png --no-such-flag 1"]
    module, args, flags = _parse(commands(page)[0])
    assert (module, args, flags) == ("twgtm", ["tryon"], ["--no-such-flag", "--person"])
    text = _help(module, tuple(args))
    assert "--person" in text and "--no-such-flag" not in text
