"""A namespace with one of everything the pictures draw, created on the test cluster.

Used by the model tests (which look at the live objects) and by ``--update-golden`` (which saves what
the cluster returned as the golden tests' input).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import course

NAMESPACE = "tester-pictures"

SCENARIO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 100m, memory: 64Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 2
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      containers: [{name: big, image: nginx:1.27, resources: {requests: {cpu: "64"}}}]
---
apiVersion: v1
kind: Service
metadata: {name: stuck}
spec:
  selector: {app: stuck}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: wrongport}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: www}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  defaultBackend: {service: {name: web, port: {name: http}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: nobody, port: {number: 80}}}}
      - {path: /old, pathType: Exact, backend: {service: {name: gone, port: {number: 80}}}}
      - {path: /stuck, pathType: Prefix, backend: {service: {name: stuck, port: {number: 80}}}}
      - {path: /port, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
      - {path: /www, pathType: Prefix, backend: {service: {name: wrongport, port: {number: 80}}}}
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: nobody, port: {number: 80}}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:16"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: hello, image: "busybox:1.36", command: [echo, hello]}]
---
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers: [{name: h, image: "busybox:1.36", resources: {requests: {cpu: "64"}}}]
"""


@contextmanager
def namespace(name: str) -> Iterator[course.Cluster]:
    """A Cluster working in namespace ``name`` (created, or emptied when it exists)."""
    previous = os.environ.get("K8S_COURSE_NAMESPACE")
    os.environ["K8S_COURSE_NAMESPACE"] = name
    try:
        cluster = course.connect("00-setup", quiet=True)
        cluster.reset()
        yield cluster
    finally:
        if previous is None:
            os.environ.pop("K8S_COURSE_NAMESPACE", None)
        else:
            os.environ["K8S_COURSE_NAMESPACE"] = previous


def build(cluster: course.Cluster) -> None:
    """Create the scenario and wait until the controllers and the scheduler have done their part."""
    cluster.apply(SCENARIO)
    cluster.wait_for("Deployment", "web", "Ready", timeout=60)
    cluster.wait_for("StatefulSet", "db", "Ready", timeout=60)
    cluster.wait_for("Job", "once", "Complete", timeout=60)
    cluster.wait_for(
        "Service", "web", lambda _: bool(course.pictures.routes.explain_route("http://web", cluster.namespace).pods)
    )
    failed_scheduling = "reason=FailedScheduling,involvedObject.name=huge"
    cluster.wait_for(
        "Pod",
        "huge",
        lambda _: bool(cluster.core.list_namespaced_event(cluster.namespace, field_selector=failed_scheduling).items),
    )
