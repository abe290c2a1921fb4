"""A hands-on Kubernetes course in JupyterLab.

Every chapter starts with::

    import course
    cluster = course.connect("00-setup")

which returns a :class:`Cluster`: clients of the official ``kubernetes`` package (``cluster.core``,
``cluster.apps``, ...) pointed at the course cluster, the chapter's namespace (``cluster.namespace``)
and helpers: ``cluster.apply(yaml_or_dict)``, ``cluster.wait_for(kind, name, "Ready")``,
``cluster.reset()`` and ``cluster.kubectl("get", "pods")``, and pictures of the live cluster:
``cluster.show_owners()``, ``cluster.show_placement()``, ``with cluster.timeline(): ...``,
``cluster.show_route(url)`` and ``cluster.show_control_plane()`` (models in :mod:`course.pictures`).
Graded tests use :mod:`course.checks`.
"""

from course._errors import ApiProblem, CourseError, ManifestError
from course._naming import namespace_for
from course._paths import put_environment_first_on_path
from course._session import Cluster, connect
from course._waiting import WaitTimeout
from course.pictures import control_plane, explain_route, owner_graph, placement_map, timeline

__all__ = [
    "ApiProblem",
    "Cluster",
    "CourseError",
    "ManifestError",
    "WaitTimeout",
    "connect",
    "control_plane",
    "explain_route",
    "namespace_for",
    "owner_graph",
    "placement_map",
    "timeline",
]

# Every process that imports the course (its CLI, nbgrader with the course's config, a notebook's
# kernel, the class grader) starts programs such as nbgrader's `alembic` from the course's own
# environment, activated or not.
put_environment_first_on_path()
