"""Ordinary library calls still work inside the seccomp allowlist.

The filter refuses every system call it does not name, so each case here exercises a family of calls
that model-written code makes (files and directories on /tmp, copying, temporary files, an on-disk
SQLite database, threads, timers, sleeping, polling, randomness, numpy) and checks the exact output.
"""

from __future__ import annotations

import pytest
from sandbox_helpers import FRESH_TMP

from sandbox import Sandbox

pytestmark = pytest.mark.asyncio(loop_scope="session")

CASES = {
    "files and directories": (
        "import os\nopen('a.txt', 'w').write('hi')\nos.rename('a.txt', 'b.txt')\nos.makedirs('d/e')\n"
        "os.symlink('b.txt', 'l')\nos.link('b.txt', 'h')\nos.chmod('b.txt', 0o600)\nos.utime('b.txt')\n"
        "print(open('l').read(), sorted(os.listdir('.')), os.getcwd(), os.path.getsize('h'))\n"
        "os.remove('b.txt'); os.rmdir('d/e'); print(os.path.exists('b.txt'), os.access('h', os.R_OK))",
        f"hi {sorted(['b.txt', 'd', 'h', 'l', *FRESH_TMP])} /tmp 2\nFalse True\n",
    ),
    "copying and temporary files": (
        "import os, shutil, tempfile\nd = tempfile.mkdtemp()\np = os.path.join(d, 'f')\n"
        "open(p, 'w').write('x' * 5000)\nshutil.copy(p, p + '2')\nshutil.copy2(p, p + '3')\n"
        "with tempfile.TemporaryFile() as f:\n    f.write(b'abc'); f.seek(0); print(f.read())\n"
        "print(os.path.getsize(p + '3'))\nshutil.rmtree(d)\nprint(os.path.exists(d))",
        "b'abc'\n5000\nFalse\n",
    ),
    "low-level file descriptors": (
        "import os\nfd = os.open('z', os.O_CREAT | os.O_RDWR)\nos.write(fd, b'abc')\nos.fsync(fd)\n"
        "print(os.pread(fd, 2, 1), os.lseek(fd, 0, os.SEEK_END))\nos.ftruncate(fd, 1)\nos.close(fd)\n"
        "print(os.stat('z').st_size, os.statvfs('.').f_bsize > 0)",
        "b'bc' 3\n1 True\n",
    ),
    "sqlite on disk": (
        "import sqlite3\nc = sqlite3.connect('t.db')\nc.execute('create table t(a)')\n"
        "c.executemany('insert into t values (?)', [(1,), (2,)])\nc.commit()\n"
        "print(c.execute('select sum(a) from t').fetchone())",
        "(3,)\n",
    ),
    "threads, timers, sleeping and polling": (
        "import os, selectors, signal, time\nfrom concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(3) as ex:\n    print(sum(ex.map(lambda v: v * v, range(10))))\n"
        "fired = []\nsignal.signal(signal.SIGALRM, lambda *a: fired.append(1))\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.01)\ntime.sleep(0.1)\nprint(fired)\n"
        "r, w = os.pipe()\nos.write(w, b'x')\nsel = selectors.DefaultSelector()\n"
        "sel.register(r, selectors.EVENT_READ)\nprint(len(sel.select(0)))",
        "285\n[1]\n1\n",
    ),
    "randomness, clocks and host facts": (
        "import os, random, secrets, time, datetime, resource\nrandom.seed()\n"
        "print(len(os.urandom(8)), len(secrets.token_hex(4)), time.time() > 1.7e9,\n"
        "      datetime.datetime.now().year > 2000, os.cpu_count() > 0,\n"
        "      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0, os.uname().sysname)",
        "8 8 True True True True Linux\n",
    ),
    "numpy and sympy beyond the warm-up": (
        "import numpy as np\nfrom sympy import symbols, integrate, sin, cos\nx = symbols('x')\n"
        "a = np.random.default_rng(0).random((60, 60))\n"
        "print(np.allclose(a @ np.linalg.inv(a), np.eye(60)), integrate(sin(x) * cos(x), x))\n"
        "np.save('a.npy', np.arange(3))\nprint(np.load('a.npy'))",
        "True sin(x)**2/2\n[0 1 2]\n",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_everyday_code_runs_inside_the_allowlist(sandbox: Sandbox, name: str) -> None:
    code, expected = CASES[name]
    result = await sandbox.run(code)
    assert result.status == "ok", result
    assert result.stdout == expected, result
