"""Pictures of the live cluster, for learners to watch controllers at work.

Each picture is built from the objects the API server returns right now, and shows itself in a
notebook (SVG) or as text anywhere else::

    cluster = course.connect("04-workloads")
    cluster.show_owners()                                # Deployment → ReplicaSet → Pods ...
    cluster.show_placement()                             # Pods on Nodes, and why some are not
    with cluster.timeline():                             # what the controllers did meanwhile
        cluster.apply(deployment_with_a_new_image)
    cluster.show_route("http://shop.example.com/cart")   # Ingress rule → Service → Pods, or why not
    cluster.show_control_plane()                         # components and their health

The functions below return the pictures' models instead of showing them, for code and tests that
look inside (``owner_graph(...).children("Deployment/web")``).
"""

from course.pictures.control import ControlPlane, control_plane
from course.pictures.owners import OwnerGraph, owner_graph
from course.pictures.placement import PlacementMap, placement_map
from course.pictures.routes import Route, explain_route
from course.pictures.timeline import DEFAULT_KINDS as timeline_kinds
from course.pictures.timeline import Recording, Timeline, timeline

__all__ = [
    "ControlPlane",
    "OwnerGraph",
    "PlacementMap",
    "Recording",
    "Route",
    "Timeline",
    "control_plane",
    "explain_route",
    "owner_graph",
    "placement_map",
    "timeline",
    "timeline_kinds",
]
