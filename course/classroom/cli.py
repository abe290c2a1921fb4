"""``python -m course class ...``: sandboxes for a class, and grading the whole class at once.

    python -m course class sandbox create --roster ROSTER.csv [--chapter ID ...] [--kubeconfigs DIR]
                                          [--as-secrets NAMESPACE [--server URL]]   for a hub on Kubernetes
    python -m course class sandbox revoke --roster ROSTER.csv     invalidate the kubeconfigs handed out
    python -m course class sandbox delete (--roster ROSTER.csv | --all) [--chapter ID ...]
    python -m course class grade ASSIGNMENT [--workers N] [--cell-timeout S] [--timeout S]
                                            [--student ID ...] [--no-feedback] [--no-export]
    python -m course class practice CHAPTER [--students 30]      a generated class to try grading on
    python -m course class hub-config --roster ROSTER.csv --instructor USER [--exchange DIR] ...
                                                                a JupyterHub for the class on this machine
    python -m course class doctor --student ID                  what that student can and cannot reach

Every command works on the course root (``--course-root``, default ``autograder/``) and the cluster
of the course kubeconfig (``K8S_COURSE_KUBECONFIG`` to use another, e.g. a shared classroom cluster);
``sandbox`` and ``grade`` need that kubeconfig to be a cluster admin's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from course._cli_output import say, step
from course._paths import repo_root


def add_parser(commands: Any) -> None:
    """Add ``class`` and its subcommands to the course's argument parser."""
    classroom = commands.add_parser("class", help="sandboxes for a class, and grading a whole class")
    classroom.add_argument(
        "--course-root",
        type=Path,
        default=repo_root() / "autograder",
        help="the nbgrader course root (default: autograder/)",
    )
    actions = classroom.add_subparsers(dest="class_action", required=True)

    sandbox = actions.add_parser("sandbox", help="create, revoke or delete the students' sandboxes")
    sandbox.add_argument("what", choices=["create", "revoke", "delete"])
    sandbox.add_argument("--roster", type=Path, help="CSV of student ids (a column 'id', or the first column)")
    sandbox.add_argument("--chapter", action="append", dest="chapters", help="a chapter (repeat; default: all)")
    sandbox.add_argument(
        "--kubeconfigs",
        type=Path,
        help="write one kubeconfig per student here (default for create: COURSE_ROOT/classroom/kubeconfigs)",
    )
    sandbox.add_argument("--no-kubeconfigs", action="store_true", help="create sandboxes only")
    sandbox.add_argument(
        "--as-secrets",
        metavar="NAMESPACE",
        help="create: write each kubeconfig as a Secret k8s-course-kubeconfig-<label> (key 'kubeconfig') in the "
        "hub's NAMESPACE, for KubeSpawner to mount (cluster-setup/z2jh/), instead of a file",
    )
    sandbox.add_argument(
        "--server",
        help="the API server's URL in the kubeconfigs, as the students' servers reach it "
        "(e.g. https://kubernetes.default.svc from a Pod; default: the admin kubeconfig's)",
    )
    sandbox.add_argument("--token-days", type=float, default=30.0, help="lifetime of a kubeconfig's token")
    sandbox.add_argument("--all", action="store_true", help="delete: the whole classroom, every student")

    grade = actions.add_parser("grade", help="grade every submission of an assignment, many at a time")
    grade.add_argument("assignment", help="for example 00-setup")
    grade.add_argument("--workers", type=int, help="submissions graded at once (default: from CPUs and memory)")
    grade.add_argument("--cell-timeout", type=int, help="seconds per cell (default: the course's Execute.timeout)")
    grade.add_argument("--timeout", type=float, default=600.0, help="seconds per submission (default 600)")
    grade.add_argument("--student", action="append", dest="students", help="only this student (repeat)")
    grade.add_argument("--no-feedback", action="store_true", help="skip nbgrader's feedback files")
    grade.add_argument("--no-export", action="store_true", help="skip nbgrader's CSV export of the gradebook")
    grade.add_argument(
        "--unconfined",
        action="store_true",
        help="UNSAFE: grade even where the kernels cannot be fully jailed (no Landlock, seccomp or namespaces): "
        "a submission could then read the grader's files, the disk, and reach local sockets",
    )

    practice = actions.add_parser("practice", help="write generated submissions to try the class grader")
    practice.add_argument("chapter")
    practice.add_argument("--students", type=int, default=30)

    hub = argparse.ArgumentParser(add_help=False)
    hub.add_argument("--roster", type=Path, help="CSV of student ids, who are also the hub's user names")
    hub.add_argument("--instructor", help="the instructor's user name (default: you)")
    hub.add_argument("--instructor-root", type=Path, help="their private course root (default: ~INSTRUCTOR/k8s-course)")
    hub.add_argument(
        "--kubeconfigs", type=Path, help="the students' kubeconfigs (default: INSTRUCTOR_ROOT/classroom/kubeconfigs)"
    )
    hub.add_argument("--hub-dir", type=Path, default=Path("/etc/jupyterhub"), help="for jupyterhub_config.py")
    hub_config = actions.add_parser(
        "hub-config", parents=[hub], help="write a JupyterHub for the class on this machine (run as root)"
    )
    hub_config.add_argument("--exchange", type=Path, default=Path("/srv/nbgrader/exchange"))
    hub_config.add_argument("--jupyter-dir", type=Path, default=Path("/etc/jupyter"), help="for nbgrader_config.py")
    hub_config.add_argument("--instructor-kubeconfig", type=Path, help="an admin kubeconfig for their server")
    doctor = actions.add_parser("doctor", parents=[hub], help="check what a student can and cannot reach")
    doctor.add_argument("--student", required=True, help="a student id of the roster")


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed ``class`` command; errors propagate as ``CourseError`` to the main CLI."""
    if args.class_action == "sandbox":
        return _sandbox(args)
    if args.class_action == "grade":
        return _grade(args)
    if args.class_action == "hub-config":
        return _hub_config(args)
    if args.class_action == "doctor":
        return _doctor(args)
    return _practice(args)


def _roster(args: argparse.Namespace) -> Any:
    from course._errors import CourseError
    from course.classroom.roster import RosterError, read_roster

    if args.roster is None:
        raise CourseError("Name the class with --roster ROSTER.csv (a column 'id' with the student ids).")
    try:
        return read_roster(args.roster)
    except OSError as problem:
        raise CourseError(f"Cannot read the roster {args.roster}: {problem.strerror or problem}.") from None
    except RosterError as problem:
        raise CourseError(str(problem)) from None


def _sandbox(args: argparse.Namespace) -> int:
    from course._chapters import chapter_ids
    from course.classroom import sandboxes

    if args.what == "delete":
        students = None if args.all else _roster(args)
        with step("Deleting sandboxes"):
            gone = sandboxes.delete_sandboxes(students, args.chapters)
        say(f"Deleting {len(gone)} namespaces (the namespace controller empties them in the background).")
        return 0
    students = _roster(args)
    if args.what == "revoke":
        with step(f"Revoking the kubeconfigs of {len(students)} students"):
            sandboxes.revoke_sessions(students)
        return 0
    chapters = args.chapters or chapter_ids()
    target = None
    if not (args.no_kubeconfigs or args.as_secrets):
        target = args.kubeconfigs or args.course_root / "classroom" / "kubeconfigs"
    with step(f"Creating sandboxes for {len(students)} students, {len(chapters)} chapters"):
        report = sandboxes.create_sandboxes(
            students, chapters, target, args.token_days, secrets_namespace=args.as_secrets, server=args.server
        )
    existing = len(students) * len(chapters) - len(report.created_namespaces)
    say(f"{len(report.created_namespaces)} new namespaces; {existing} were there already and are unchanged.")
    if target is not None:
        say(f"Kubeconfigs (one per student, named after their namespace prefix; keep them private): {target}")
    if args.as_secrets:
        say(f"Kubeconfig Secrets (k8s-course-kubeconfig-<label>): {len(report.secrets)} in namespace {args.as_secrets}")
        renamed = [student.id for student in students if not student.kubespawner_names_alike]
        if renamed:
            say(
                f"WARNING: KubeSpawner names these hub users differently, so their servers would not find their"
                f" Secret: {', '.join(renamed)}. Give them hub user names that are lower-case DNS labels"
                " starting with a letter (cluster-setup/z2jh/README.md)."
            )
    say(sandboxes.fit_class().line())  # a warning, not a refusal: see fit_class
    for student_id, problem in report.failed.items():
        say(f" ✗ {student_id}: {problem}")
    if report.failed:
        say(f"{len(report.failed)} students have no complete sandbox; fix what is said above and run this again.")
    return 1 if report.failed else 0


def _grade(args: argparse.Namespace) -> int:
    from course.classroom._jail import missing_features
    from course.classroom.grader import grade_class

    for feature in missing_features() if args.unconfined else []:
        say(f"  UNSAFE (--unconfined): graded kernels run without {feature}")

    report = grade_class(
        args.assignment,
        args.course_root,
        workers=args.workers,
        cell_timeout=args.cell_timeout,
        timeout=args.timeout,
        students=args.students,
        feedback=not args.no_feedback,
        export=not args.no_export,
        require_landlock=not args.unconfined,
    )
    graded = sum(1 for result in report.results if result.status == "graded")
    say(f"Graded {graded} of {len(report.results)} submissions in {report.seconds:.1f}s.")
    say(f"  per submission: {report.report_csv}")
    if report.export_csv:
        say(f"  gradebook export: {report.export_csv}")
    if not args.no_feedback:
        feedback = args.course_root / "feedback"
        say(f"  feedback: {feedback}  (release it with: nbgrader release_feedback {args.assignment})")
    say(f"  jail: {', '.join(report.jail) or 'none'}")
    return 0 if graded == len(report.results) else 2


def _practice(args: argparse.Namespace) -> int:
    from course.classroom.samples import write_practice_class
    from course.nbgrader_glue import generate_assignment

    if not (args.course_root / "release" / args.chapter).is_dir():
        generate_assignment(args.course_root, args.chapter)
    solved = write_practice_class(args.course_root, args.chapter, args.students)
    say(
        f"Wrote {len(solved)} submissions to {args.course_root / 'submitted'}; try: "
        f"python -m course class grade {args.chapter}"
    )
    return 0


def _hub_plan(args: argparse.Namespace) -> Any:
    import os
    import pwd

    from course.classroom.hub import HubPlan, account

    instructor = args.instructor or pwd.getpwuid(os.getuid()).pw_name
    root = args.instructor_root or Path(account(instructor).pw_dir) / "k8s-course"
    return HubPlan(
        students=_roster(args),
        instructor=instructor,
        instructor_root=root,
        kubeconfigs=args.kubeconfigs or root / "classroom" / "kubeconfigs",
        exchange=getattr(args, "exchange", Path("/srv/nbgrader/exchange")),
        hub_dir=args.hub_dir,
        jupyter_dir=getattr(args, "jupyter_dir", Path("/etc/jupyter")),
        instructor_kubeconfig=getattr(args, "instructor_kubeconfig", None),
    )


def _hub_config(args: argparse.Namespace) -> int:
    import importlib.util
    import sys

    from course.classroom import hub

    plan = _hub_plan(args)
    try:
        with step(f"Writing {plan.hub_dir / 'jupyterhub_config.py'} for {len(plan.students)} students"):
            data = hub.write_hub_config(plan)
        with step(f"Writing {plan.jupyter_dir / 'nbgrader_config.py'} (the exchange for every user)"):
            hub.write_nbgrader_config(plan)
        with step(f"Making the exchange {plan.exchange} (every user may write)"):
            hub.make_exchange(plan)
        with step(f"Making {plan.instructor}'s private course root {plan.instructor_root} (0700)"):
            hub.make_instructor_root(plan, args.course_root)
        with step("Copying kubeconfigs into the students' homes (0600)"):
            copies = hub.copy_kubeconfigs(data)
    except PermissionError as refused:
        from course._errors import CourseError

        raise CourseError(f"No permission to change {refused.filename}: run class hub-config as root.") from None
    say(f"Kubeconfigs copied for {len(copies.copied)} of {len(plan.students)} students.")
    if copies.no_account:
        say(f" ✗ no Unix user yet (useradd -m ID): {', '.join(copies.no_account)}")
    if copies.no_kubeconfig:
        say(f" ✗ no kubeconfig in {plan.kubeconfigs} yet: {', '.join(copies.no_kubeconfig)}")
    problems = hub.shared_problems(data, args.course_root)
    if importlib.util.find_spec("jupyterhub") is None:
        problems.append(f"no JupyterHub in the course's environment: {sys.executable} -m pip install jupyterhub")
    for problem in problems:
        say(f" ✗ {problem}")
    start = f"{Path(sys.executable).parent / 'jupyterhub'} -f {plan.hub_dir / 'jupyterhub_config.py'}"
    first = "fix what is crossed above, then " if problems else ""
    say(
        f"Next: {first}start the hub as root: {start}; then check a student: python -m course class doctor --student ID"
    )
    return 1 if problems else 0


def _doctor(args: argparse.Namespace) -> int:
    import os

    from course.classroom import doctor

    data = doctor.load_hub_data(args.hub_dir) if os.geteuid() == 0 else _hub_plan(args).data()
    if args.student not in data.students:
        from course._errors import CourseError

        raise CourseError(f"{args.student} is not on the hub's roster: run class hub-config with a roster with them.")
    who = "as their Unix user" if os.geteuid() == 0 else "with their kubeconfig"
    say(f"Checking what {args.student} can reach, {who}:")
    checks = doctor.examine(args.student, data)
    for check in checks:
        say(check.line())
    wrong = [check for check in checks if not check.ok]
    if wrong:
        say(f"{len(wrong)} checks went wrong for {args.student}: fix those crossed above and run this again.")
        return 1
    say(f"{args.student} reaches the course and nothing that is not theirs.")
    return 0
