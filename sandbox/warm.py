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

# Code paths, not answers. Each template runs for several rounds with new numbers ({a}, {b}, ... grow
# with the round): repeating a call would only return sympy's memoised result, while new numbers run
# its code again, leaving that path's caches and CPython's specialised bytecode warm in the zygote for
# every child. Both shapes of the commonest call (a quadratic with rational roots, one with irrational
# roots) are there because they take different paths. Measured in forked children: solving an unseen
# quadratic took ~10.5 ms of CPU after one round of the single irrational-root snippet, ~7 ms after
# this. No round may compute a snippet that a benchmark times: that run would be a cache hit, not the
# work a model's code costs (benchmarks/sandbox_latency.py checks).
WARM_TEMPLATES: tuple[str, ...] = (
    "from sympy import *\nx, y, z, n = symbols('x y z n')\nprint(solve(x**2 - 3*x - {p}, x))",  # rational
    "print(solve(2*x**2 + {a}*x - {b}, x))",  # irrational roots
    "print(simplify(sin({a}*x)**2 + cos({a}*x)**2), expand((x + {a})**5), factor(x**3 - {c}))",
    "print(integrate(x**{a} * exp(x), x), integrate(1/({a} + x**2), (x, 0, oo)), diff(tan({a}*x), x))",
    "print(series(sin({a}*x), x, 0, 6), limit(sin({a}*x)/x, x, 0), summation(1/n**{b}, (n, 1, oo)))",
    "print(nsimplify(0.{a}{a}{a}{a}), Rational({a}, 7) + Rational(1, {b}), sqrt({c}))\n"
    "print(N(pi, {d}), factorint({e}))",
    "M = Matrix([[1, {a}], [{b}, 4]])\nprint(M.det(), M.inv(), Matrix([[{a}, 0], [0, {b}]]).eigenvals())",
    "print(solve([x + y - {a}, x - y - {b}], [x, y]), linsolve([x + y - {a}, x - y - {b}], x, y))\n"
    "print(nsolve(x**3 - {a}, 1))",
    "print(binomial({e}, 3), factorial({a}), isprime({e}), list(primerange(1, {e})), gcd({e}, 18))\n"
    "print(lcm({a}, 6), divisors({e}), mod_inverse({a}, 101))",
    "print(latex(x**{a}/3), str(Eq(x, {a})), srepr(x + {a}), pretty(x**{a}))\n"
    "print(Poly(x**2 + {a}, x).all_coeffs())",
    "print(solveset(x**2 - {c}, x, domain=S.Reals), reduce_inequalities([x**2 < {c}], x))\n"
    "print(Abs(-{a}), floor({a}.5))",
    "f = Function('f')\nprint(rsolve(f(n + 1) - {a}*f(n), f(n)), apart(1/(x*(x + {a}))))\n"
    "print(cancel((x**2 - {c})/(x - {a})))",
    "print(trigsimp(sin({a}*x)*cos({a}*x)), expand_trig(sin({a}*x)), log({c}, {a}))\n"
    "print(exp(I*pi/{a}), re({a} + 2*I))\n"
    "print(Sum(n**{a}, (n, 1, 10)).doit(), diophantine(x**2 - {f}*y**2 - 1))",
    "import numpy as np\nprint(np.array([1, {a}, 3]).sum(), np.linalg.solve([[{a}, 1], [1, 3]], [3, 5]))\n"
    "print(np.roots([1, -{a}, {b}]))",
    "import math, fractions, itertools\n"
    "print(math.comb({e}, 2), fractions.Fraction(1, {a}), list(itertools.permutations(range({a}))))",
)  # fmt: skip
WARM_ROUNDS = 2


def warm_snippets(rounds: int = WARM_ROUNDS) -> list[str]:
    """The templates filled in for each round, round by round."""
    snippets = []
    for k in range(rounds):
        a, b = k + 2, k + 3
        values = {"a": a, "b": b, "c": a * a, "d": 20 + k, "e": 30 + 7 * k, "f": (2, 3, 5, 6, 7)[k % 5]}
        values["p"] = (k + 7) * (k + 4)  # x**2 - 3x - p has the roots k+7 and -(k+4)
        snippets += [template.format(**values) for template in WARM_TEMPLATES]
    return snippets


# Compiled once; run by each idle child (see child._prefault): the warm-up's first snippet again. Its
# result is memoised, so it costs the child a few ms and a request that arrives meanwhile waits less,
# yet it copies most pages a sympy run writes to (measured: ~2,000 copy-on-write faults in a run after
# no prefault, ~170 after this one). Through the server, an unseen quadratic one run at a time: p50
# ~20 ms with no prefault, ~12 ms with this one; back to back, a heavier prefault (two fresh solves)
# doubled the p50 (~32 ms against ~17) as requests waited for spare children to finish it.
PREFAULT_SNIPPETS = (compile(warm_snippets(1)[0], "<prefault>", "exec"),)


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
        for snippet in warm_snippets():
            try:
                exec(compile(snippet, "<warm>", "exec"), namespace)  # noqa: S102 - our own warm-up code
            except Exception:
                continue  # a warm-up miss only costs speed, never correctness
    gc.collect()
    gc.freeze()  # keep the preloaded heap out of the children's collections (fewer copy-on-write faults)
    return [m for m in missing if not m.startswith("scipy")]
