"""Shared fixtures. Tests that need the real data in ../shared/data skip, with a message, when
that folder is absent (a user's clone); in this project's CI it is present and they run."""

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
