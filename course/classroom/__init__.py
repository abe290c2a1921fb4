"""A class on one cluster: a sandbox per student, and grading the whole class at once.

``python -m course class ...`` (:mod:`course.classroom.cli`) drives it:

* :mod:`~course.classroom.sandboxes` gives every student of a roster a namespace per chapter, a
  ServiceAccount that may work only there (RBAC: :mod:`~course.classroom._objects`), a
  ResourceQuota and a LimitRange, and a kubeconfig with a token of that identity only;
* :mod:`~course.classroom.grader` grades every submission of an assignment with nbgrader, many at
  a time, each in its student's sandbox, and merges the results into the gradebook.

How a submission is kept from earning what it did not do, layer by layer:

1. **The API server says no.** The notebook runs with a token of the student's ServiceAccount; RBAC
   answers 403 to anything outside the student's namespaces, to cluster-wide writes and to Secrets
   elsewhere. Tokens are bound to a Secret that is deleted when the run ends.
2. **The machine says no.** The kernel is jailed (:mod:`~course.classroom._jail`): Landlock lets it
   read the Python installation and the course package, write only its scratch folder and connect
   only to the API server's port, so it cannot read the instructor's kubeconfig, another student's
   token, the gradebook, or talk to etcd; no capabilities; its own PID namespace.
3. **The grade is not the kernel's to give.** The hidden tests run in the grading job, not in the
   kernel (:mod:`~course.classroom._referee`), with a read-only grader identity and the namespace
   the grader chose; only plain-data values cross from the kernel. Monkeypatched checks, rewritten
   cells, a changed ``K8S_COURSE_NAMESPACE``: none of it reaches the referee.
"""
