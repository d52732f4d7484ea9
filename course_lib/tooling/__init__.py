"""The `course` command and what it runs: the instructors' and maintainers' tools, not the students' shelf.

    project.py   where the course lives: the package folder, the checkout, the repository's address
    build.py     one source, two notebooks: lessons/ and the paired .ipynb from solutions/*.py
    cli.py       the `course` command (list, build, run, grade, feedback)
    grading/     `course grade`: submissions, the processes, the kernel-side grader, reports

Nothing here imports torch, matplotlib or ipywidgets at start-up (the checks are loaded only when a
grading needs them), and nothing outside tooling imports it: notebooks never do.
"""
