"""The code keeps the shape the README gives it: no import cycle between modules, every module in
the architecture table, and a command line that only parses options and prints."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "racines"


def _module_graph() -> dict[str, set[str]]:
    """Every import between racines' modules, those inside functions too (grimp, the graph
    import-linter checks the layers on)."""
    import grimp

    graph = grimp.build_graph("racines")
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_modules():
    assert _cycle(_module_graph()) is None


def test_every_module_is_in_the_readme_architecture_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Architecture"):]
    section = section[:section.index("\n## ", 1)]
    named: set[str] = set()
    for row in re.findall(r"^\| (`racines/[^|]*)\|", section, flags=re.M):
        cells = re.findall(r"`([^`]+)`", row)
        folder = ""
        for cell in cells:
            if cell.startswith("racines/"):
                folder = cell if cell.endswith("/") else cell.rsplit("/", 1)[0] + "/"
                named.add(cell)
            else:
                named.add(folder + cell)
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and path.stat().st_size < 400:
            continue  # a package's docstring
        folder = relative.rsplit("/", 1)[0] + "/"
        assert relative in named or folder in named, f"{relative} is not in the README's architecture table"


def test_the_command_line_only_parses_and_prints():
    source = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    for sign in ("threading", "ThreadPoolExecutor", "setswitchinterval", "os.environ", "project_lock",
                 "def action", "sched_setaffinity", "nice("):
        assert sign not in source, f"cli.py holds {sign}: it belongs to racines.pipeline or racines.core.process"
