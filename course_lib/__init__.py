"""course_lib: tested reference implementations for the deep generative models course."""

__version__ = "0.1.0"
