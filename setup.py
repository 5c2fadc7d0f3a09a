"""The C part of the package (everything else is in pyproject.toml): the guard's per-question
arithmetic (src/vigie/guard/_speedups.c), whose pure-Python twins run where it is not built.
GCC or Clang (the flags are theirs), on a 64-bit machine (SSE2 arithmetic, as Python's)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vigie.guard._speedups",
            ["src/vigie/guard/_speedups.c"],
            # No fused multiply-add: the same rounding as the Python twins, bit for bit.
            extra_compile_args=["-O2", "-ffp-contract=off", "-std=c11"],
            # Without a compiler the package still installs, on the Python twins (slower);
            # tests/guard/test_speedups.py then fails: a build meant to ship has it.
            optional=True,
        )
    ]
)
