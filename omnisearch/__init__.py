"""omnisearch: any-to-any audio / video / text retrieval (OmniRetriever method).

Importing this package is cheap: it only sets thread defaults. Heavy libraries load lazily.
"""

from omnisearch.config import set_thread_env

set_thread_env()

__version__ = "0.1.0"
