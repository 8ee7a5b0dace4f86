"""indexers.lance_import: lancedb imports without running the REST client's package __init__, and the
client still loads whole the first time one of its names is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from omnisearch.indexers.lance_import import defer_client_init


def _package(root, name: str) -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import sys\nsys.init_runs = getattr(sys, 'init_runs', 0) + 1\nREST = 'rest'\n"
    )
    (pkg / "models.py").write_text("MODEL = 'model'\n")


def test_defers_a_package_init_until_a_name_is_used(tmp_path, monkeypatch):
    _package(tmp_path, "omni_fake_client")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delattr(sys, "init_runs", raising=False)
    try:
        assert defer_client_init("omni_fake_client") is True
        from omni_fake_client.models import MODEL  # a submodule imports without the package __init__

        assert MODEL == "model" and not hasattr(sys, "init_runs")
        import omni_fake_client

        assert omni_fake_client.REST == "rest" and sys.init_runs == 1  # the first other name loads it
        assert omni_fake_client.models.MODEL == "model" and sys.init_runs == 1  # once
        assert defer_client_init("omni_fake_client") is False  # already imported: nothing done
    finally:
        for mod in ("omni_fake_client", "omni_fake_client.models"):
            sys.modules.pop(mod, None)


def test_star_import_and_missing_packages(tmp_path, monkeypatch):
    _package(tmp_path, "omni_fake_star")
    (tmp_path / "omni_fake_star" / "__init__.py").write_text("__all__ = ['REST']\nREST = 'rest'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert defer_client_init("omni_fake_star")
        ns: dict = {}
        exec("from omni_fake_star import *", ns)  # __all__ loads the real __init__
        assert ns["REST"] == "rest"
    finally:
        sys.modules.pop("omni_fake_star", None)
    assert defer_client_init("omni_no_such_package_here") is False


def test_lancedb_imports_without_the_rest_api_and_still_works(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from omnisearch.indexers.lance_import import lancedb
        assert "lance_namespace_urllib3_client.api" not in sys.modules, "the REST API was imported"
        db = lancedb.connect({str(tmp_path)!r})
        tbl = db.create_table("t", data=[{{"x": 1}}, {{"x": 2}}])
        assert tbl.count_rows() == 2
        from lance_namespace_urllib3_client import ApiClient  # the REST client loads on demand
        assert "lance_namespace_urllib3_client.api" in sys.modules and ApiClient.__name__ == "ApiClient"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
