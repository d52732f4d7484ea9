"""Where the course lives: the package on disk, and the one public address of its repository.

A fork changes REPOSITORY and runs `course build`: every notebook's Colab badge and Colab install
line is written from it (the sources carry `{{ repository }}`, see build.py).
"""

from __future__ import annotations

from pathlib import Path

import course_lib

REPOSITORY = "dgm-course/deep-generative-models"  # owner/name on GitHub
PACKAGE_DIR = Path(course_lib.__file__).resolve().parent  # course_lib/ itself
PACKAGE_PARENT = PACKAGE_DIR.parent  # the folder holding course_lib/: the checkout, in an editable install
