"""The import rules of docs/architecture.md ("Layers"), read from the source: lower layers never
import higher ones, and Faust's and aiokafka's private names are imported in one module only."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Set, Tuple

ROOT = Path(__file__).resolve().parents[2]
# The modules that wire Faust's app: they may import it, and the tables.
WIRING = {"bifrost_streams/app.py", "bifrost_streams/wiring.py", "bifrost_streams/outcomes.py",
          "bifrost_streams/cli.py", "bifrost_streams/diagnostics.py",
          "bifrost_streams/loop_watch.py"}
PRIVATE_OWNER = "bifrost_streams/kafka/transport.py"


def _modules(package: str) -> Iterator[Tuple[str, ast.Module]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        yield name, ast.parse(path.read_text(encoding="utf-8"), name)


def _imported(name: str, tree: ast.Module) -> Set[str]:
    """Absolute names of the modules `name` imports (relative imports resolved)."""
    package = name[:-3].replace("/", ".").rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _reaches(imported: Set[str], *prefixes: str) -> Set[str]:
    return {name for name in imported
            if any(name == p or name.startswith(p + ".") for p in prefixes)}


def test_no_module_of_the_package_imports_an_agent():
    for name, tree in _modules("bifrost_streams"):
        assert not _reaches(_imported(name, tree), "agents"), name


def test_only_the_wiring_and_the_web_views_import_the_app_or_the_tables():
    for name, tree in _modules("bifrost_streams"):
        if name in WIRING or name.startswith("bifrost_streams/web/"):
            continue
        assert not _reaches(_imported(name, tree), "bifrost_streams.app", "tables"), name


def test_tables_import_neither_agents_nor_web_views():
    for name, tree in _modules("tables"):
        assert not _reaches(_imported(name, tree), "agents", "bifrost_streams.web"), name


def test_private_faust_and_aiokafka_names_are_imported_by_the_transport_alone():
    for package in ("bifrost_streams", "agents", "tables"):
        for name, tree in _modules(package):
            if name == PRIVATE_OWNER:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                        "faust", "aiokafka", "mode"):
                    assert not [a.name for a in node.names if a.name.startswith("_")], name


def test_the_rules_see_the_modules_they_are_about():
    names = {name for name, _ in _modules("bifrost_streams")}
    assert WIRING <= names and PRIVATE_OWNER in names
    imported = _imported("bifrost_streams/outcomes.py",
                         ast.parse((ROOT / "bifrost_streams/outcomes.py").read_text()))
    assert _reaches(imported, "tables") and _reaches(imported, "bifrost_streams.app")
