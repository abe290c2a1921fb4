"""``python -m course class ...``: sandboxes for a class, and grading the whole class at once.

    python -m course class sandbox create --roster ROSTER.csv [--chapter ID ...] [--kubeconfigs DIR]
    python -m course class sandbox revoke --roster ROSTER.csv     invalidate the kubeconfigs handed out
    python -m course class sandbox delete (--roster ROSTER.csv | --all) [--chapter ID ...]
    python -m course class grade ASSIGNMENT [--workers N] [--cell-timeout S] [--timeout S]
                                            [--student ID ...] [--no-feedback] [--no-export]
    python -m course class practice CHAPTER [--students 30]      a generated class to try grading on

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


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed ``class`` command; errors propagate as ``CourseError`` to the main CLI."""
    if args.class_action == "sandbox":
        return _sandbox(args)
    if args.class_action == "grade":
        return _grade(args)
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
    target = None if args.no_kubeconfigs else args.kubeconfigs or args.course_root / "classroom" / "kubeconfigs"
    with step(f"Creating sandboxes for {len(students)} students, {len(chapters)} chapters"):
        report = sandboxes.create_sandboxes(students, chapters, target, args.token_days)
    existing = len(students) * len(chapters) - len(report.created_namespaces)
    say(f"{len(report.created_namespaces)} new namespaces; {existing} were there already and are unchanged.")
    if target is not None:
        say(f"Kubeconfigs (one per student, named after their namespace prefix; keep them private): {target}")
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
