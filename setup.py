"""Build hook for the optional native fast path (pyproject.toml holds everything else).

`optional=True`: where no C compiler is available the package still installs and the normalizer
uses its pure-Python path (same output, slower); see normalize/native.py for how the choice is
made and reported. The kernel's column table `_fastpath_columns.h` is generated from schema.py and
checked in (normalize/native_columns.py says why it is not generated here); `depends` rebuilds the
module when it changes, MANIFEST.in ships it in the sdist.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gharchive_pipeline.normalize._fastpath",
            sources=["src/gharchive_pipeline/normalize/_fastpath.c"],
            depends=["src/gharchive_pipeline/normalize/_fastpath_columns.h"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
