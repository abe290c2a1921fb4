"""A hands-on Kubernetes course in JupyterLab.

Every chapter starts with::

    import course
    cluster = course.connect("00-setup")

which returns a :class:`Cluster`: clients of the official ``kubernetes`` package (``cluster.core``,
``cluster.apps``, ...) pointed at the course cluster, the chapter's namespace (``cluster.namespace``)
and helpers: ``cluster.apply(yaml_or_dict)``, ``cluster.wait_for(kind, name, "Ready")``,
``cluster.reset()`` and ``cluster.kubectl("get", "pods")``. Graded tests use :mod:`course.checks`.
"""

from course._errors import ApiProblem, CourseError, ManifestError
from course._session import Cluster, connect, namespace_for
from course._waiting import WaitTimeout

__all__ = [
    "ApiProblem",
    "Cluster",
    "CourseError",
    "ManifestError",
    "WaitTimeout",
    "connect",
    "namespace_for",
]
