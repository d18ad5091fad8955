"""The README's promises: set-up commands first, CI runs exactly them, and the results block is
generated from results/ (no number typed by hand)."""

import re
from pathlib import Path

import pytest

from sccnb.study.readme import END, START, render_results, update_readme

REPO = Path(__file__).resolve().parents[1]


def test_setup_and_test_are_the_first_commands_and_ci_runs_them():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make setup", "make test"]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert "make setup" in ci and "make test" in ci
    assert ci.index("make setup") < ci.index("make test")


def test_results_block_matches_the_committed_results():
    if not (REPO / "results" / "cpu" / "tables" / "table1.csv").exists():
        pytest.skip("results/cpu has not been produced in this checkout")
    readme = (REPO / "README.md").read_text()
    assert START in readme and END in readme
    assert not update_readme(check=True), "README results block is stale: python -m sccnb readme"
    block = render_results()
    assert "not the paper's benchmarks" in block and "make table1 PROFILE=cpu" in block


def test_convergence_rows_come_from_the_resolution_table():
    import pandas as pd

    from sccnb.study.readme import _convergence

    res = pd.DataFrame([{"data": "real", "converged": "10/19", "epoch_noise_pct": 0.72,
                         "plateau_flagged": 0.3775, "late_trend_median": -0.0612},
                        {"data": "synth", "converged": "3/10", "epoch_noise_pct": float("nan"),
                         "plateau_flagged": float("nan"), "late_trend_median": float("nan")}])
    lines = _convergence(res)
    assert "| real | 10/19 | 0.7 % | 38% | -0.06 |" in lines
    assert "| synth | 3/10 | — | — | — |" in lines
    assert _convergence(res.drop(columns="converged")) == []  # reports from before the columns
