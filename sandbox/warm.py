"""Preloading: import the math stack once in the server and exercise sympy's lazy paths.

Children are forked from the warmed server, so they start with everything imported and sympy's
caches hot, and never need to read the interpreter's files (which may sit in a directory the
sandbox uid cannot read, such as pyenv under /root).
"""

from __future__ import annotations

import gc
import importlib
import os

# Pin BLAS pools to one thread before numpy loads: threads do not survive fork.
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

MODULES: tuple[str, ...] = (
    "math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "statistics",
    "random", "re", "string", "datetime", "calendar", "operator", "heapq", "bisect", "json", "copy",
    "numbers", "typing", "dataclasses", "textwrap", "pprint", "time", "io", "ctypes", "warnings",
    "numpy", "numpy.linalg", "mpmath", "sympy", "sympy.abc", "sympy.stats", "sympy.solvers.diophantine",
    "sympy.ntheory", "sympy.combinatorics", "sympy.geometry", "sympy.polys", "sympy.physics.units",
    "sympy.parsing.sympy_parser", "sympy.plotting", "sympy.utilities.lambdify", "scipy", "scipy.optimize",
)  # fmt: skip

# Code paths, not answers: no snippet here may be one a benchmark measures, or the run it times
# would be a cache hit on sympy's memoised results rather than the work a model's code costs.
WARM_SNIPPETS: tuple[str, ...] = (
    "from sympy import *\nx, y, z, n = symbols('x y z n')\nprint(solve(2*x**2 + 3*x - 14, x))",
    "print(simplify(sin(x)**2 + cos(x)**2), expand((x + 1)**5), factor(x**3 - 1))",
    "print(integrate(x**2 * exp(x), x), integrate(1/(1 + x**2), (x, 0, oo)), diff(tan(x), x))",
    "print(series(sin(x), x, 0, 6), limit(sin(x)/x, x, 0), summation(1/n**2, (n, 1, oo)))",
    "print(nsimplify(0.333333333), Rational(3, 7) + Rational(1, 3), sqrt(8), N(pi, 30), factorint(360))",
    "M = Matrix([[1, 2], [3, 4]])\nprint(M.det(), M.inv(), Matrix([[2, 0], [0, 3]]).eigenvals())",
    "print(solve([x + y - 3, x - y - 1], [x, y]), linsolve([x + y - 3, x - y - 1], x, y))\n"
    "print(nsolve(x**3 - 2, 1))",
    "print(binomial(10, 3), factorial(6), isprime(97), list(primerange(1, 20)), gcd(12, 18), lcm(4, 6))\n"
    "print(divisors(36), mod_inverse(3, 7))",
    "print(latex(x**2/3), str(Eq(x, 2)), srepr(x + 1), pretty(x**2), Poly(x**2 + 1, x).all_coeffs())",
    "print(solveset(x**2 - 4, x, domain=S.Reals), reduce_inequalities([x**2 < 4], x), Abs(-3), floor(2.5))",
    "f = Function('f')\nprint(rsolve(f(n + 1) - 2*f(n), f(n)), apart(1/(x*(x + 1))))\n"
    "print(cancel((x**2 - 1)/(x - 1)))",
    "print(trigsimp(sin(x)*cos(x)), expand_trig(sin(2*x)), log(8, 2), exp(I*pi), re(1 + 2*I))\n"
    "print(Sum(n, (n, 1, 10)).doit(), diophantine(x**2 - 2*y**2 - 1))",
    "import numpy as np\nprint(np.array([1, 2, 3]).sum(), np.linalg.solve([[2, 1], [1, 3]], [3, 5]))\n"
    "print(np.roots([1, -5, 6]))",
    "import math, fractions, itertools\n"
    "print(math.comb(5, 2), fractions.Fraction(1, 3), list(itertools.permutations([1, 2])))",
)

# Compiled once; run by each idle child (see child._prefault), cheapest and most common first.
PREFAULT_SNIPPETS = tuple(compile(s, "<prefault>", "exec") for s in WARM_SNIPPETS[:1])


def preload() -> list[str]:
    """Import and exercise the math stack; returns the modules that could not be imported."""
    os.environ.update(THREAD_ENV)
    missing = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            missing.append(name)
    import contextlib
    import io

    namespace: dict[str, object] = {"__name__": "__warm__"}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for snippet in WARM_SNIPPETS:
            try:
                exec(compile(snippet, "<warm>", "exec"), namespace)  # noqa: S102 - our own warm-up code
            except Exception:
                continue  # a warm-up miss only costs speed, never correctness
    gc.collect()
    gc.freeze()  # keep the preloaded heap out of the children's collections (fewer copy-on-write faults)
    return [m for m in missing if not m.startswith("scipy")]
