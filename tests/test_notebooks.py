"""Every notebook runs through papermill at smoke size (via the Makefile, as a user would), and
the numbers it wrote are checked: files present, rows present, values finite, and the paper's
column equal to the one data module of paper numbers."""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import re
import shlex
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from sccnb.study import paper

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


def _declared_parameters(path: Path) -> dict[str, tuple[str, object, str]]:
    """The parameters cell as Python reads it: name -> (type, default, comment)."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    out = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.AnnAssign), f"{path.name}: {ast.unparse(node)!r}"
        comment = lines[node.lineno - 1].partition("#")[2].strip()
        out[node.target.id] = (node.annotation.id, ast.literal_eval(node.value), comment)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_parses_every_parameter(path, caplog):
    """`papermill --help-notebook` lists every parameter with its type, default and comment:
    no line is skipped with "Unable to parse line" (a comment holding '=' is)."""
    import papermill as pm

    with caplog.at_level(logging.WARNING, logger="papermill"):
        inferred = pm.inspect_notebook(str(path))
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    declared = _declared_parameters(path)
    assert list(inferred) == list(declared)
    for name, (type_name, default, comment) in declared.items():
        p = inferred[name]
        assert (p["inferred_type_name"], ast.literal_eval(p["default"]), p["help"]) == (
            type_name, default, comment), name


def _make_papermill_calls(*goals: str) -> list[list[str]]:
    """The papermill command lines `make` would run for ``goals`` (a dry run, all targets)."""
    proc = subprocess.run(["make", "-n", "-B", *goals], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)
    lines = proc.stdout.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if " -m papermill " in line]


def test_makefile_passes_only_declared_parameters_with_repository_relative_paths(tmp_path,
                                                                                caplog):
    """Every notebook `make` runs knows every parameter `make` passes (papermill warns "Passed
    unknown parameter" otherwise), gets ``out_dir`` relative to the repository and
    ``interactive`` False (text bars, static figures)."""
    import papermill as pm
    import yaml
    from papermill.cli import _resolve_type

    calls = _make_papermill_calls("reproduce-tables", "real300w", "resolution", "PROFILE=smoke")
    seen = set()
    for args in calls:
        notebook, executed = [a for a in args if a.endswith(".ipynb")]
        seen.add(Path(notebook).name)
        params, i = {}, args.index(executed) + 1
        while i < len(args):
            if args[i] == "-p":
                params[args[i + 1]] = _resolve_type(args[i + 2])
                i += 3
            elif args[i] == "-y":
                params.update(yaml.safe_load(args[i + 1]))
                i += 2
            else:
                i += 1
        declared = _declared_parameters(REPO / notebook)
        assert set(params) <= set(declared), (notebook, set(params) - set(declared))
        assert params["out_dir"] in ("results/smoke", "results/real300w_cpu",
                                     "results/resolution"), notebook
        if "interactive" in declared:
            assert params["interactive"] is False, notebook
        with caplog.at_level(logging.WARNING, logger="papermill"):
            pm.execute_notebook(str(REPO / notebook), str(tmp_path / "prepared.ipynb"),
                                parameters=params,
                                prepare_only=True, kernel_name="python3", progress_bar=False)
        assert not caplog.records, [r.getMessage() for r in caplog.records]
    makefile = (REPO / "Makefile").read_text()
    assert seen == {p.name for p in NOTEBOOKS if p.name in makefile} and len(seen) >= 12


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """`make reproduce-tables PROFILE=smoke` into a temporary results folder."""
    tmp = tmp_path_factory.mktemp("smoke")
    env = {**os.environ, "SCCNB_RUNS": str(tmp / "runs"), "SCCNB_CACHE": str(tmp / "cache")}
    # a relative RESULTS, as make's default is: the notebooks resolve it against the repository
    results = os.path.relpath(tmp / "out", REPO)
    proc = subprocess.run(["make", "reproduce-tables", "PROFILE=smoke", f"RESULTS={results}"],
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
    for name in tables:  # provenance beside every table: the runs and their code, or (Table
        # 4, a measurement) the device and the model code; never the moment of rendering
        prov = json.loads((smoke_results / "tables" / f"{name}.json").read_text())["provenance"]
        assert (prov.get("runs") and prov["run_code"]) or (prov["device"] and prov["code"])
        assert "created" not in prov
    executed = nbformat.read(smoke_results / "notebooks" / "table5_components.ipynb", 4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")


def _outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            yield cell, output


def test_executed_notebooks_hold_no_absolute_paths(smoke_results):
    """make passed a repository-relative RESULTS: neither the repository's absolute path nor
    the absolute results folder appears in an executed notebook or a table."""
    files = [*(smoke_results / "notebooks").glob("*.ipynb"),
             *(smoke_results / "tables").glob("*.*")]
    assert len(files) > 20
    for path in files:
        text = path.read_text()
        for absolute in (REPO, REPO.parent / "shared", smoke_results.resolve()):
            # (?<!\.): the relative form, ../../tmp/..., holds the absolute one's characters
            found = re.search(r"(?<!\.)" + re.escape(str(absolute)), text)
            assert not found, f"{path.name} holds {absolute}"
    meta = nbformat.read(smoke_results / "notebooks" / "00_tour.ipynb", 4).metadata.papermill
    assert not Path(meta["parameters"]["out_dir"]).is_absolute()


def test_executed_notebooks_have_text_bars_and_static_figures(smoke_results):
    """Under make no widget is drawn (papermill has no browser): no widget views, no tqdm
    warning; the tour's two explorers each drew their default view as a static image."""
    for path in (smoke_results / "notebooks").glob("*.ipynb"):
        for _, output in _outputs(path):
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {})
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert "IProgress" not in text and "TqdmExperimentalWarning" not in text
    tour_nb = smoke_results / "notebooks" / "00_tour.ipynb"
    for call in ("tour.explore_graph(", "tour.explore_predictions("):
        images = [o for c, o in _outputs(tour_nb) if call in c.source
                  and "image/png" in o.get("data", {})]
        assert len(images) == 1, call


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
    # one seed per arm at smoke size: Δ shown, no interval, no verdict (sccnb.study.claims)
    assert len(claims) and (claims.seeds == "1/1").all() and _finite(claims.ours_delta)
    assert (claims.verdict == "1 seed: descriptive only").all()
    assert claims.ci95_low.isna().all() and claims.mde.isna().all()


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
             data_root=str(shared_data / "300w_mini"), ablations=False,
             overrides={"max_train": 40, "epochs": 1})  # a few faces: the table's form
    df = pd.read_csv(tmp_path / "out" / "tables" / "table3_real300w.csv")
    assert list(df.method) == ["SCC (full model)", "FC baseline (Soft Wing)",
                               "mean training shape"]
    assert _finite(df.NME_ours) and df.loc[0, "NME_paper_300W_full"] == paper.TABLE3["full"]


def test_topk_sweep_runs_on_real_300w_faces(tmp_path, shared_data):
    """Issue 6: Table 7's notebook on the real 68-point faces (smoke-size network, a few faces)."""
    _execute("table7_topk.ipynb", tmp_path, profile="smoke", dataset="real300w",
             data_root=str(shared_data / "300w_mini"), out_dir=str(tmp_path / "out"),
             overrides={"max_train": 40, "epochs": 1})
    df = pd.read_csv(tmp_path / "out" / "tables" / "table7.csv").set_index("variant")
    assert {"k=1", "k=3", "k=40", "k=67"} <= set(df.index)  # N - 1 = 67 for 68 points
    assert df["NME_paper"].isna().all()  # the paper's sweep is for WFLW only
    assert _finite(df["NME_ours"])
    title = json.loads((tmp_path / "out" / "tables" / "table7.json").read_text())["title"]
    assert "real300w" in title and "SynthFace" not in title
