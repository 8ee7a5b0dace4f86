"""`import lancedb` without running the REST namespace client's package `__init__` up front.

lancedb imports `lance_namespace`, which imports its request and response models from
`lance_namespace_urllib3_client.models`. Importing that submodule first runs the client package's
`__init__`, which also imports its nine REST API modules: 366 pydantic `validate_call` schemas, about
2 s of the 3.4 s that `import lancedb` takes on a 2-core machine, paid by every `index`, `search` and
`serve` start. An embedded store never calls them.

`defer_client_init()` registers the client package with its real `__path__` and spec but without
running its `__init__`, so `.models` (and any other submodule) imports as usual. The first time any
other name of the package is asked for, the real `__init__` runs into the same module object
(PEP 562 `__getattr__`), so code that does use the REST client still gets all of it.

Example:
    >>> from omnisearch.indexers.lance_import import lancedb   # doctest: +SKIP
    >>> lancedb.connect("/tmp/omni-db")                         # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import sys
import types

CLIENT = "lance_namespace_urllib3_client"


def defer_client_init(name: str = CLIENT) -> bool:
    """Register package `name` without running its `__init__` until one of its names is used; False
    (nothing done) when it is already imported or is not an installed package."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    module = importlib.util.module_from_spec(spec)

    def load_rest(attr: str) -> object:
        # what the import system and inspection probe for: no reason to load (`__all__` does load)
        if attr.startswith("__") and attr.endswith("__") and attr != "__all__":
            raise AttributeError(attr)
        del module.__dict__["__getattr__"]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return getattr(module, attr)

    module.__dict__["__getattr__"] = load_rest
    sys.modules[name] = module
    return True


def _import() -> types.ModuleType:
    defer_client_init()
    import lancedb as lancedb_module

    return lancedb_module


lancedb = _import()
