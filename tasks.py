#!/usr/bin/env python3
"""Set-up and the two everyday commands, with nothing but Python 3.11 and pip.

    python3 tasks.py report   # build .venv, make demo data, produce the weekly report
    python3 tasks.py test     # build .venv if needed, lint, run every test

The virtual environment lives in ``.venv``; it is (re)installed only when
``pyproject.toml`` changed since the last install. A Jupyter kernel named ``zantara``
is registered inside it so JupyterLab and papermill use this interpreter.
Only the standard library is used here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".zantara-env-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
KERNEL = "zantara"
KERNEL_DIR = VENV / "share" / "jupyter" / "kernels" / KERNEL


def say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)


def env_hash() -> str:
    h = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()


def register_kernel() -> None:
    """Register the ``zantara`` Jupyter kernel inside .venv (JupyterLab and papermill use it)."""
    run(
        [
            PY,
            "-m",
            "ipykernel",
            "install",
            "--sys-prefix",
            "--name",
            KERNEL,
            "--display-name",
            "Python (zantara-nb)",
        ]
    )


def _stamped() -> tuple[str, set[str]]:
    """(pyproject hash, extras) of the last install; an old stamp holds the hash alone (dev)."""
    if not STAMP.exists():
        return "", set()
    digest, _, extras = STAMP.read_text().strip().partition(" ")
    return digest, set(extras.split(",")) if extras else {"dev"}


def ensure_env(extras: tuple[str, ...] = ("dev",)) -> None:
    """Create .venv and install the package with ``extras`` when needed.

    The stamp records the pyproject hash and the extras installed; an environment with
    more extras than asked for (the test command's ``clickhouse``) serves a lighter
    command as it is.
    """
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may be started by an older python3
        sys.exit(f"Python 3.11+ is needed, this is {sys.version.split()[0]}")
    want = env_hash()
    digest, have = _stamped()
    if PY.exists() and digest == want and set(extras) <= have:
        if not KERNEL_DIR.exists():
            register_kernel()
        return
    if digest == want:
        extras = tuple(sorted(have | set(extras)))
    t0 = time.time()
    if not PY.exists():
        run([sys.executable, "-m", "venv", VENV])
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    quiet = {"stderr": subprocess.DEVNULL} if os.environ.get("ZANTARA_QUIET_PIP") else {}
    run([*pip, "-e", f".[{','.join(extras)}]"], **quiet)
    register_kernel()
    STAMP.write_text(f"{want} {','.join(extras)}")
    say(f"environment ready in {time.time() - t0:.0f} s ({VENV})")


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def cmd_report() -> None:
    ensure_env()
    t0 = time.time()
    env = venv_env()
    run([BIN / "zantara-nb", "demo"], env=env)
    weekly = ROOT / "parameters" / "weekly.yaml"
    if weekly.exists():
        run([BIN / "zantara-nb", "run", weekly], env=env)
    say(f"done in {time.time() - t0:.0f} s")


def cmd_test(extra: list[str]) -> None:
    ensure_env(("dev", "clickhouse"))  # the tests run every engine, chdb included
    env = venv_env()
    run([BIN / "ruff", "check", "."], env=env)
    run([BIN / "ruff", "format", "--check", "."], env=env)
    run([PY, "-m", "pytest", "-n", "2", *extra], env=env)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"report", "test", "env"}:
        sys.exit(__doc__)
    if argv[0] == "report":
        cmd_report()
    elif argv[0] == "test":
        cmd_test(argv[1:])
    else:
        ensure_env()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
