"""chdb serves one data directory per process: close the behaviour tests' shared chdb
copies (enginekit) before a warehouse test opens chdb at a path of its own."""

import pytest
from enginekit import release_copies


@pytest.fixture(autouse=True)
def _no_shared_chdb_server():
    release_copies()
    yield
