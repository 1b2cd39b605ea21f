"""A chdb directory is open in one process at a time: the others wait their turn and are
told who has it, instead of failing to start chdb's embedded server; a report run holds
it for its whole run while its kernels open it.

Every chdb open happens in a child process (the pytest worker may run another chdb
server of its own).
"""

from __future__ import annotations

import importlib.util
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zantara_nb.warehouse.connection import held_for_run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("chdb") is None, reason="the clickhouse extra is not installed"
)

ROOT = Path(__file__).resolve().parents[2]

OPEN = """
import sys, time
from pathlib import Path
from zantara_nb import Warehouse
address, release = sys.argv[1], Path(sys.argv[2])
print("opening", flush=True)
t0 = time.monotonic()
with Warehouse(address) as wh:
    print(f"open after {time.monotonic() - t0:.2f} s", flush=True)
    print(wh.scalar("SELECT count(*) FROM events"), flush=True)
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def opener(address: str, release: Path, timeout: float) -> subprocess.Popen:
    env = {**os.environ, "ZANTARA_LOCK_TIMEOUT": str(timeout)}
    return subprocess.Popen(
        [sys.executable, "-c", OPEN, address, str(release)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_open(proc: subprocess.Popen) -> float:
    line = proc.stdout.readline()
    if line.startswith("opening"):
        line = proc.stdout.readline()
    assert line.startswith("open after"), line + proc.stderr.read()
    return float(line.split()[2])


def test_a_second_process_waits_its_turn_then_opens(tmp_path):
    address = f"chdb:{tmp_path / 'w.chdb'}"
    release_a = tmp_path / "release-a"
    a = opener(address, release_a, 30)
    wait_open(a)

    # impatient: gives up, naming the process that has it open
    b = opener(address, tmp_path / "release-b", 0.5)
    out, err = b.communicate(timeout=60)
    assert b.returncode != 0
    assert "is busy" in err and f"pid {a.pid}" in err and "has it open" in err
    assert "Error initializing EmbeddedServer" not in err

    # patient: waits until the first one closes, then opens
    c = opener(address, tmp_path / "release-c", 60)
    assert c.stdout.readline().startswith("opening")
    time.sleep(1.0)
    poller = select.poll()  # not select(): a pytest worker's descriptors pass 1024
    poller.register(c.stdout, select.POLLIN)
    assert poller.poll(0) == []  # still waiting
    release_a.touch()
    assert a.wait(timeout=60) == 0
    assert wait_open(c) >= 1.0
    (tmp_path / "release-c").touch()
    assert c.wait(timeout=60) == 0


def test_a_report_run_holds_the_directory_and_its_kernels_open_it(tmp_path):
    address = f"chdb:{tmp_path / 'w.chdb'}"
    first = opener(address, tmp_path / "go", 30)  # create the warehouse
    wait_open(first)
    (tmp_path / "go").touch()
    assert first.wait(timeout=60) == 0

    with held_for_run(address, purpose="weekly report run"):
        # a kernel of the run (it inherits the run's hold) opens at once ...
        kernel = opener(address, tmp_path / "go", 0.5)
        assert wait_open(kernel) < 0.5
        assert kernel.wait(timeout=60) == 0
        # ... any other process waits for the run to end
        saved = os.environ.pop("ZANTARA_RUN_HOLDS")
        try:
            other = opener(address, tmp_path / "go", 0.5)
        finally:
            os.environ["ZANTARA_RUN_HOLDS"] = saved
        _, err = other.communicate(timeout=60)
        assert other.returncode != 0 and "weekly report run" in err
    after = opener(address, tmp_path / "go", 0.5)
    wait_open(after)
    assert after.wait(timeout=60) == 0
