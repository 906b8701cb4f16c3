"""The package's shape: layers that only point down (import-linter's contracts in
pyproject.toml, which `make lint` runs) and no import circle anywhere in facepipe."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint_imports(plugins: Path, config: Path) -> subprocess.CompletedProcess:
    # lint-imports puts the working directory first on sys.path: the copy's facepipe is analysed
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(config), "--no-cache"],
        cwd=plugins,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_package_has_no_import_circle():
    import grimp

    graph = grimp.build_graph("facepipe", cache_dir=None)
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in graph.modules} for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan: strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert len(graph.modules) > 40
    assert circles == []


def test_the_layer_contracts_pass():
    done = _lint_imports(ROOT / "plugins", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "0 broken" in done.stdout or "broken" not in done.stdout.split("Contracts:")[-1]


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the nightly path reaching for the forget (what store.write_shard once did)
        ("ingest/store.py", "from facepipe.privacy import forget", "facepipe.ingest.store -> facepipe.privacy.forget"),
        # a lower layer importing a higher one
        ("core/db.py", "from facepipe.people import names", "facepipe.core.db -> facepipe.people.names"),
        # the models reaching for the database
        ("models/detect.py", "import psycopg", "facepipe.models.detect -> psycopg"),
    ],
)
def test_a_wrong_import_breaks_the_contracts(tmp_path, module, line, broken):
    shutil.copytree(
        ROOT / "plugins" / "facepipe", tmp_path / "plugins" / "facepipe", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "plugins" / "facepipe" / module
    text = path.read_text()
    head, rest = text.split("from __future__ import annotations\n", 1)
    path.write_text(f"{head}from __future__ import annotations\n\n{line}  # a wrong import\n{rest}")
    done = _lint_imports(tmp_path / "plugins", tmp_path / "pyproject.toml")
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert broken in done.stdout, done.stdout[-2000:]
