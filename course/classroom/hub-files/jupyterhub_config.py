"""JupyterHub on one machine for the Kubernetes course, written by `python -m course class hub-config`.

Start it from the course's environment, as root (LocalProcessSpawner starts each server as that
Unix user): `jupyterhub -f THIS_FILE`. Users log in with their system password (PAM).
The class itself (students, kubeconfigs, paths) is in k8s-course-hub.json next to this file:
`class hub-config` rewrites that file, never this one, so edit this one freely.
"""

from pathlib import Path

from course.classroom._hub_spawn import HUB_DATA, HubData

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (JupyterHub provides it)
hub = HubData.load(Path(__file__).resolve().parent / HUB_DATA)

c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Authenticator.allowed_users = hub.allowed_users
c.Authenticator.admin_users = {hub.instructor}

# Every server runs the course environment's JupyterLab, in the user's private home (0700).
c.Spawner.cmd = [hub.python, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# Before a server starts: home 0700, the student's kubeconfig copied in (0600), the environment set.
c.Spawner.pre_spawn_hook = hub.pre_spawn_hook()
