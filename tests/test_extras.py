"""Optional extras: a command or an entry point used without its extra ends in one line naming the
extra to install. The extra's modules are made unimportable for real in a subprocess (a sitecustomize
that puts None in sys.modules, as an uninstalled package behaves for `import` and `find_spec`)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from omnisearch.extras import EXTRAS, MissingExtra, missing, require

ROOT = Path(__file__).resolve().parent.parent
BLOCKER = """import os, sys
for name in filter(None, os.environ.get("OMNISEARCH_TEST_BLOCK", "").split(",")):
    sys.modules[name] = None
"""


def run_blocked(tmp_path: Path, blocked: str, *args: str) -> subprocess.CompletedProcess:
    """`python *args` with the modules in `blocked` (comma-separated) unimportable."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path, OMNISEARCH_TEST_BLOCK=blocked, OMP_NUM_THREADS="2")
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)


def one_line(r: subprocess.CompletedProcess, extra: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error:") and f"pip install 'omnisearch[{extra}]'" in lines[0], lines[0]
    return lines[0]


def test_every_extra_is_in_pyproject_and_in_all() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(extras), sorted(set(EXTRAS) - set(extras))
    (everything,) = extras["all"]
    assert everything == f"omnisearch[{','.join(EXTRAS)}]"


def test_require_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert missing("qdrant") == []  # the test environment has every extra
    monkeypatch.setitem(sys.modules, "accelerate", None)
    assert missing("train") == ["accelerate"]
    with pytest.raises(MissingExtra, match=r"omnisearch train needs the 'train' extra: pip install"):
        require("train", "omnisearch train")
    with pytest.raises(ValueError, match="unknown extra"):
        require("trian", "x")


@pytest.mark.parametrize(
    ("blocked", "extra", "args"),
    [
        ("peft", "train", ("train", "m.jsonl", "--out", "run")),
        ("accelerate", "train", ("ablation", "a.jsonl", "b.jsonl", "--out", "abl")),
        ("qdrant_client", "qdrant", ("info", "--db", "qdb", "--store", "qdrant")),
        ("fastapi", "serve", ("serve", "--db", "db")),
        ("mcp", "mcp", ("mcp", "--db", "db")),
        ("ray", "ray", ("index", "lib", "--db", "db", "--engine", "ray")),
        ("matplotlib", "plot", ("eval", "m.jsonl", "--json", "o.json", "--plot", "o.png")),
    ],
)
def test_cli_names_the_missing_extra(tmp_path: Path, blocked: str, extra: str, args: tuple[str, ...]) -> None:
    for folder in ("db", "qdb", "lib"):
        (tmp_path / folder).mkdir()
    (tmp_path / "m.jsonl").write_text("")
    line = one_line(run_blocked(tmp_path, blocked, "-m", "omnisearch.cli.main", *args), extra)
    assert blocked in line


@pytest.mark.parametrize(
    ("blocked", "extra", "module"),
    [
        ("langchain_core", "langchain", "omnisearch.integrations.langchain"),
        ("llama_index", "llama-index", "omnisearch.integrations.llama_index"),
        ("qdrant_client", "qdrant", "omnisearch.indexers.qdrant_store"),
        ("uvicorn", "serve", "omnisearch.serve.app"),
        ("peft", "train", "omnisearch.train.trainer"),
    ],
)
def test_python_entry_points_raise_missing_extra(
    tmp_path: Path, blocked: str, extra: str, module: str
) -> None:
    code = (
        "import importlib\nfrom omnisearch.extras import MissingExtra\n"
        f"try:\n    importlib.import_module({module!r})\nexcept MissingExtra as e:\n    print(e.extra, e)\n"
    )
    r = run_blocked(tmp_path, blocked, "-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{extra} ") and f"pip install 'omnisearch[{extra}]'" in r.stdout, r.stdout


def test_base_commands_import_no_extra(tmp_path: Path) -> None:
    """What index, search and eval import with the default encoder (and its shipped heads) needs no
    extra's module."""
    blocked = ",".join(m.split(".")[0] for mods in EXTRAS.values() for m in mods)
    code = (
        "import omnisearch.api, omnisearch.cli.main, omnisearch.ingest.pipeline\n"
        "import omnisearch.retrieval.planner, omnisearch.indexers.lancedb_store\n"
        "import omnisearch.models.omni_lite, omnisearch.models.registry, omnisearch.models.heads\n"
        "import omnisearch.eval.evaluator, omnisearch.eval.report, omnisearch.eval.index_eval\n"
        "from omnisearch.cli.main import app\nprint('ok')\n"
    )
    r = run_blocked(tmp_path, blocked, "-c", code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
