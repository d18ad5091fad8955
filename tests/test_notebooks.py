"""Every notebook runs through papermill at smoke size (via the Makefile, as a user would), and
the numbers it wrote are checked: files present, rows present, values finite, and the paper's
column equal to the one data module of paper numbers."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from sccnb import paper

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs_and_have_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), path.name
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged 'parameters'"
    # derived values belong after the parameters cell: it holds plain literals only
    for line in tagged[0].source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert ":" in line and "=" in line, f"{path.name}: untyped parameter {line!r}"


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """`make reproduce-tables PROFILE=smoke` into a temporary results folder."""
    tmp = tmp_path_factory.mktemp("smoke")
    env = {**os.environ, "SCCNB_RUNS": str(tmp / "runs"), "SCCNB_CACHE": str(tmp / "cache")}
    proc = subprocess.run(["make", "reproduce-tables", "PROFILE=smoke", f"RESULTS={tmp / 'out'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return tmp / "out"


def _execute(notebook: str, tmp_path: Path, **parameters) -> None:
    """Run one notebook through papermill with its runs and caches under ``tmp_path``."""
    import papermill as pm

    env_before = dict(os.environ)
    os.environ.update(SCCNB_RUNS=str(tmp_path / "runs"), SCCNB_CACHE=str(tmp_path / "cache"))
    try:
        pm.execute_notebook(str(REPO / "notebooks" / notebook), str(tmp_path / "executed.ipynb"),
                            cwd=str(REPO / "notebooks"), parameters=parameters,
                            kernel_name="python3", progress_bar=False)
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def _finite(values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def test_every_table_and_figure_was_written(smoke_results):
    tables = {p.stem for p in (smoke_results / "tables").glob("*.csv")}
    assert tables >= {"table1", "table2", "table3", "table4", "table5", "table5_claims",
                      "table6", "table6_claims", "table7", "table7_claims", "table8",
                      "table8_claims", "fig1_occlusion"}
    figures = {p.stem for p in (smoke_results / "figures").glob("*.png")}
    assert figures >= {"fig1_occlusion_curve", "fig1_occlusion_examples", "fig4_losses",
                       "fig6_attention", "fig7_topk", "tour_correlation_heatmaps",
                       "tour_topk_graphs", "tour_predictions"}
    for name in tables:  # provenance beside every table
        meta = json.loads((smoke_results / "tables" / f"{name}.json").read_text())
        assert meta["provenance"]["commit"] and meta["provenance"]["device"]
    executed = nbformat.read(smoke_results / "notebooks" / "table5_components.ipynb", 4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")


def test_table1_rows_and_paper_column(smoke_results):
    df = pd.read_csv(smoke_results / "tables" / "table1.csv")
    for metric in ("nme", "fr", "auc"):
        part = df[df.metric == metric]
        assert set(part.subset) == set(paper.WFLW_SUBSETS)
        assert set(part.method) == {"SCC (full model)", "FC baseline (L1)", "mean shape"}
        assert _finite(part.value)
        scc = part[part.method == "SCC (full model)"].set_index("subset")["paper"]
        for subset, value in paper.TABLE1[metric].items():
            if value is None:
                assert pd.isna(scc[subset])
            else:
                assert scc[subset] == value


def test_tables_2_and_3(smoke_results):
    t2 = pd.read_csv(smoke_results / "tables" / "table2.csv")
    assert set(t2.subset) == {"COFW", "COFW-68"} and _finite(t2.value)
    ref = t2[(t2.method == "SCC (full model)") & (t2.metric == "nme")].set_index("subset")
    assert ref.loc["COFW", "paper"] == paper.TABLE2["cofw"]["nme"]
    assert ref.loc["COFW-68", "paper"] == paper.TABLE2["cofw68"]["nme"]
    t3 = pd.read_csv(smoke_results / "tables" / "table3.csv")
    nme = t3[(t3.metric == "nme") & (t3.method == "SCC (full model)")].set_index("subset")
    assert nme["paper"].to_dict() == paper.TABLE3 and _finite(t3.value)


@pytest.mark.parametrize("name, reference", [
    ("table5", paper.TABLE5),
    ("table6", {**paper.TABLE6["attention"], **paper.TABLE6["features"]}),
    ("table7", {f"k={k}": v for k, v in paper.TABLE7.items()}),
    ("table8", {"l1": paper.TABLE8["l1"],
                **{f"wing eps={e}": v for e, v in paper.TABLE8["wing"].items()},
                **{f"softwing eps={e}": v for e, v in paper.TABLE8["softwing"].items()}}),
])
def test_ablation_tables(smoke_results, name, reference):
    df = pd.read_csv(smoke_results / "tables" / f"{name}.csv").set_index("variant")
    assert set(reference) | {"mean-shape"} == set(df.index)
    for label, value in reference.items():
        assert df.loc[label, "NME_paper"] == value
    assert _finite(df["NME_ours"]) and (df["NME_ours"] > 0).all()
    claims = pd.read_csv(smoke_results / "tables" / f"{name}_claims.csv")
    assert len(claims) and set(claims.verdict) <= {"agrees", "disagrees", "inconclusive"}
    assert (claims.ci95_low <= claims.ours_delta).all() and (
        claims.ours_delta <= claims.ci95_high).all()


def test_table4_and_fig1(smoke_results):
    t4 = pd.read_csv(smoke_results / "tables" / "table4.csv")
    assert t4.loc[0, "params_M_paper"] == paper.TABLE4["scc"]["params_m"]
    assert _finite(t4["batch1_ms_ours"]) and _finite(t4["GMACs_ours"])
    f1 = pd.read_csv(smoke_results / "tables" / "fig1_occlusion.csv")
    assert f1.groupby("model").size().tolist() == [7, 7]
    assert _finite(f1.nme_all) and _finite(f1.nme_visible)


def test_real_faces_notebook_at_smoke_size(tmp_path, shared_data):
    """Issue 6's notebook on real 300-W photos, with the smoke profile's tiny network."""
    _execute("table3_real300w.ipynb", tmp_path, profile="smoke", out_dir=str(tmp_path / "out"),
             data_root=str(shared_data / "300w_mini"))
    df = pd.read_csv(tmp_path / "out" / "tables" / "table3_real300w.csv")
    assert list(df.method) == ["SCC (full model)", "FC baseline (Soft Wing)",
                               "mean training shape"]
    assert _finite(df.NME_ours) and df.loc[0, "NME_paper_300W_full"] == paper.TABLE3["full"]


def test_topk_sweep_runs_on_real_300w_faces(tmp_path, shared_data):
    """Issue 6: Table 7's notebook on the real 68-point faces (smoke-size network, a few faces)."""
    _execute("table7_topk.ipynb", tmp_path, profile="smoke", dataset="real300w",
             out_dir=str(tmp_path / "out"), overrides={"max_train": 40, "epochs": 1})
    df = pd.read_csv(tmp_path / "out" / "tables" / "table7.csv").set_index("variant")
    assert {"k=1", "k=3", "k=40", "k=67"} <= set(df.index)  # N - 1 = 67 for 68 points
    assert df["NME_paper"].isna().all()  # the paper's sweep is for WFLW only
    assert _finite(df["NME_ours"])
    title = json.loads((tmp_path / "out" / "tables" / "table7.json").read_text())["title"]
    assert "real300w" in title and "SynthFace" not in title
