"""Shared fixtures. Tests that need the real data in ../shared/data skip, with a message, when
that folder is absent (a user's clone); in this project's CI it is present and they run.

Speed and parallel safety (``make test`` runs ``pytest -n 2 --dist loadfile``, pytest-xdist: a
module's tests stay on one worker, so a module- or session-scoped fixture of a module -- a
trained smoke run, the smoke pipeline's results -- is built once):

- one SynthFace/crop cache per session (``$SCCNB_CACHE``, under the worker's own temporary
  folder), so data are generated once rather than once per module, and never into the
  repository's ``.cache/`` that a user's runs share;
- torch uses one thread in the test processes and, through ``OMP_NUM_THREADS`` (unless set),
  in the processes they start: the tests' networks are tiny, two workers share two cores, and
  two threads fighting other jobs for two cores made a smoke run ~8 times slower (39 s against
  4.6 s under a load of 5). Tests that measure threading set their own counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SCCNB_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data (real annotated faces); skips the test if it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not found (set SCCNB_SHARED_DATA to use "
                    "another location); this test needs real annotations")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """One SynthFace/crop cache for the whole session (per xdist worker), outside the
    repository. Tests that need a cache of their own still set one (monkeypatch)."""
    before = os.environ.get("SCCNB_CACHE")
    os.environ["SCCNB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("SCCNB_CACHE", None)
    else:
        os.environ["SCCNB_CACHE"] = before


@pytest.fixture(scope="session")
def smoke_fc_run(tmp_path_factory, _session_cache):
    """The smoke profile's FC run on SynthFace, trained once per session (per worker) for the
    tests that only read a trained model. A test that changes or retrains a run makes its own
    (or copies this one into its ``tmp_path``)."""
    from sccnb.training.config import resolve_config
    from sccnb.training.train import ensure_run

    return ensure_run(resolve_config("smoke", head="fc"), tmp_path_factory.mktemp("shared_runs"))


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def pytest_runtest_setup(item):
    """Tests marked ``cuda`` run only where torch sees a CUDA device (``make device-check`` runs
    them on a GPU with ``pytest -m cuda``); elsewhere they skip and say why."""
    if item.get_closest_marker("cuda") is None:
        return
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (torch sees none); its CPU twin runs in the suite and "
                    "`make device-check` runs this on a GPU")


@pytest.fixture(autouse=True)
def _torch_threads():
    """Keep tests deterministic and light on a 2-core machine."""
    import torch

    torch.manual_seed(0)
    yield
