"""The documents stay true to the code: the architecture's module tree, the README's command table, and every
module path the documents name."""

from __future__ import annotations

import re

import click

from mapper.cli import main
from mapper.config import PROJECT_ROOT

PY_NAME = re.compile(r"\b[a-z_][a-z0-9_]*\.py\b")
ENTRY = re.compile(r"^(\s*)([a-z_][a-z0-9_]*(?:/|\.py))")


def architecture_tree() -> str:
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    return re.search(r"```\n(.*?)```", text, re.S)[1]


def documented_modules() -> set[str]:
    """Every ``.py`` file the tree names, as a path from the project root; a directory line's own description
    names files of that directory, a file line's names files beside it."""
    found, dirs = set(), []  # dirs: [(indent, path)] of the directories enclosing the current line
    for line in architecture_tree().splitlines():
        m = ENTRY.match(line)
        if not m:
            continue
        indent, entry = len(m[1]), m[2]
        dirs = [(i, d) for i, d in dirs if i < indent]
        parent = dirs[-1][1] if dirs else ""
        if entry.endswith("/"):
            here = parent + entry
            dirs.append((indent, here))
        else:
            here = parent
        found |= {here + name for name in PY_NAME.findall(line)}
    return found


def actual_modules() -> set[str]:
    return {
        str(p.relative_to(PROJECT_ROOT))
        for p in (PROJECT_ROOT / "mapper").rglob("*.py")
        if p.name != "__init__.py" or p.parent.name == "mapper"
    }


def test_the_architecture_tree_names_every_module_and_only_real_ones():
    documented, actual = documented_modules(), actual_modules()
    assert not actual - documented, f"modules missing from docs/architecture.md: {sorted(actual - documented)}"
    assert not documented - actual, f"docs/architecture.md names modules that do not exist: {documented - actual}"


def test_every_module_path_the_documents_name_exists():
    for doc in ("README.md", "DEVELOPERS.md", "docs/architecture.md", "bench/README.md"):
        for path in re.findall(r"\bmapper/[\w/]+\.py\b", (PROJECT_ROOT / doc).read_text()):
            assert (PROJECT_ROOT / path).exists(), f"{doc} names {path}, which does not exist"


def cli_commands(group: click.Group = main, prefix: str = "mapper") -> set[str]:
    out = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out |= cli_commands(command, f"{prefix} {name}")
        else:
            out.add(f"{prefix} {name}")
    return out


def readme_commands() -> set[str]:
    """The commands of the README's ``mapper`` table: `mapper db start` / `stop` → mapper db start, mapper db stop."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    table = re.search(r"## The `mapper` command\n(.*?)\n## ", readme, re.S)[1]
    out = set()
    for row in re.findall(r"^\| (.*?) \|", table, re.M):
        group = None
        for cell in re.findall(r"`([^`]+)`", row):
            words = [w for w in cell.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
            if words[0] == "mapper":
                command = words[1:]
                group = command[:-1] if len(command) > 1 else []
                out.add(" ".join(["mapper", *command]))
            else:
                out.add(" ".join(["mapper", *group, words[0]]))
    return out


def test_the_readme_command_table_lists_every_command_and_only_real_ones():
    documented, actual = readme_commands(), cli_commands()
    assert not actual - documented, f"commands missing from the README's table: {sorted(actual - documented)}"
    assert not documented - actual, f"the README's table lists commands that do not exist: {documented - actual}"
