"""Where nbgrader's exchange is: the one setting the course root's config must not decide alone.

nbgrader reads the global configs (``/etc/jupyter/nbgrader_config.py``, ``~/.jupyter/...``: the
folders of :func:`jupyter_core.paths.jupyter_config_path`) first and the course root's
``nbgrader_config.py`` last, so whatever the course root sets wins. On one laptop the course keeps
its exchange inside the course root (the system default, ``/usr/local/share/nbgrader/exchange``, is
not writable on Binder or Codespaces). On a hub the exchange is shared by every user and set once,
globally (``class hub-config`` writes that file): the course root must then leave it alone, or the
instructor releases into a folder no student looks in.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     _ = (Path(folder) / "nbgrader_config.py").write_text('c.Exchange.root = "/srv/exchange"')
...     global_exchange_root([Path(folder)])
'/srv/exchange'
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from jupyter_core.paths import jupyter_config_path
from traitlets.config.loader import Config, JSONFileConfigLoader, PyFileConfigLoader

EXCHANGE_VARIABLE = "K8S_COURSE_EXCHANGE"
"""An environment variable that names the exchange folder; it wins over every config file."""


def global_exchange_root(folders: Iterable[Path] | None = None) -> str | None:
    """``Exchange.root`` as the global nbgrader configs in ``folders`` set it (the last one wins), if any."""
    found: str | None = None
    for folder in reversed(list(folders if folders is not None else map(Path, jupyter_config_path()))):
        for loader in (PyFileConfigLoader, JSONFileConfigLoader):
            name = "nbgrader_config.py" if loader is PyFileConfigLoader else "nbgrader_config.json"
            if not (folder / name).is_file():
                continue
            config: Config = loader(name, path=str(folder)).load_config()
            if "Exchange" in config and "root" in config.Exchange:
                found = str(config.Exchange.root)
    return found


def exchange_root(course_root: Path) -> str:
    """The exchange the course uses: ``K8S_COURSE_EXCHANGE``, else a global config's, else ``course_root/exchange``.

    The course root's own folder is no global config even when it is on ``JUPYTER_CONFIG_PATH`` (an
    instructor's server puts it there for the formgrader): reading it here would read it again.
    """
    resolved = course_root.resolve()
    folders = [Path(folder) for folder in jupyter_config_path() if Path(folder).resolve() != resolved]
    return os.environ.get(EXCHANGE_VARIABLE) or global_exchange_root(folders) or str(course_root / "exchange")
