"""What every part of course_lib shares, and nothing a student needs to read first.

    validation  argument checks, with one phrasing of errors: "NAME must be EXPECTED, got VALUE"
    devices     which device a model lives on; "auto" -> cuda, mps or cpu
    env         the COURSE_FAST switch (tiny training under tests and grading)
    records     machine-readable records in notebook outputs: check verdicts and metric Reports

The modules are imported one by one (`from course_lib.core.validation import ...`); `records` and
`env` import no torch, so the `course` command can use them without loading it.
"""
