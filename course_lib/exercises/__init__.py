"""Test cases of each lesson's exercises, registered with `course_lib.checks`."""
