import json
import subprocess
import sys

import pandas as pd
import pytest

from sccnb.study import paper
from sccnb.perf.efficiency import efficiency_report


def test_report_counts_the_paper_sized_models_within_ten_percent():
    rep = efficiency_report("wflw98", 256, "cpu", timing=False)
    scc, fc = rep["models"]["scc"], rep["models"]["fc"]
    assert abs(scc["params_m"] / paper.TABLE4["scc"]["params_m"] - 1) < 0.10
    assert abs(scc["gmacs"] / paper.TABLE4["scc"]["gmacs"] - 1) < 0.10
    # the SCC head costs parameters and MACs on top of the same backbone
    assert scc["params_m"] > fc["params_m"] and scc["gmacs"] > fc["gmacs"]


def test_cli_json_has_both_models_timed():
    out = subprocess.run([sys.executable, "-m", "sccnb", "efficiency", "--layout", "cofw29",
                          "--input-size", "64", "--repeats", "1", "--batch", "2", "--json"],
                         check=True, capture_output=True, text=True).stdout
    rep = json.loads(out)
    assert rep["config"]["num_landmarks"] == 29
    for name in ("scc", "fc"):
        assert rep["models"][name]["latency_ms"] > 0 and rep["models"][name]["throughput"] > 0
    assert rep["provenance"]["commit"]


def test_table4_writes_paper_beside_ours(tmp_path):
    from sccnb.study import table4

    df = table4.run(tmp_path, device="cpu", input_size=64, repeats=1, batch=2)
    csv = pd.read_csv(tmp_path / "tables" / "table4.csv")
    assert list(csv["model"]) == list(df["model"])
    assert csv.loc[0, "params_M_paper"] == paper.TABLE4["scc"]["params_m"]
    md = (tmp_path / "tables" / "table4.md").read_text()
    assert "Provenance" in md and "code" in md and "device" in md
    with pytest.raises(ValueError):
        table4.run(tmp_path, device="cpu", input_size=60, repeats=1)
