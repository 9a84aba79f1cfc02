"""Build hook for the optional native fast path (pyproject.toml holds everything else).

`optional=True`: where no C compiler is available the package still installs and the normalizer
uses its pure-Python path (same output, slower); `gharchive normalize --explain`... see
normalize/native.py for how the choice is made and reported.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gharchive_pipeline.normalize._fastpath",
            sources=["src/gharchive_pipeline/normalize/_fastpath.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
