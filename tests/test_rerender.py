"""A re-render with nothing new leaves `git status` clean: a table rendered twice from the same
committed runs is byte for byte the same file, not rewritten at all; its provenance names the
runs and their code, not the moment or the machine of rendering; executed notebooks lose their
times and progress bars; the tour opened in JupyterLab writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from sccnb.study.notebook import stable_notebook  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TABLE1 = REPO / "results" / "cpu" / "tables" / "table1.json"


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_table_rendered_twice_from_the_same_runs_is_not_rewritten(tmp_path):
    """Table 1 from its committed runs (loaded from their records: nothing trains, no data is
    read), rendered twice: the second render leaves every file as it was, bytes and time."""
    from sccnb.study.benchmarks import table1
    from sccnb.study.common import StudySetup

    if not TABLE1.is_file():
        pytest.skip("results/cpu has not been produced in this checkout")
    committed = json.loads(TABLE1.read_text())["provenance"]
    if not all((REPO / "results" / "runs" / r / "metrics.json").is_file()
               for r in committed["runs"]):
        pytest.skip("Table 1's runs are not in this checkout's store")
    setup = StudySetup(profile="cpu", seeds=(0,), missing="skip")
    table1(setup, tmp_path)
    first = _files(tmp_path)
    assert {"table1.csv", "table1.md", "table1.json", "table1_claims.md"} <= set(first)
    table1(setup, tmp_path)
    assert _files(tmp_path) == first
    prov = json.loads((tmp_path / "tables" / "table1.json").read_text())["provenance"]
    assert prov["runs"] == committed["runs"] and prov["run_code"] and prov["run_commits"]
    assert not {"created", "commit", "device", "platform", "python"} & set(prov)


def test_a_figure_saved_twice_is_the_same_bytes_without_the_matplotlib_version(tmp_path):
    from sccnb.study.report import save_figure

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path, "line")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert save_figure(fig, tmp_path, "line") == path
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert b"Matplotlib" not in before[0]
    plt.close(fig)


def _executed(tmp_path: Path) -> Path:
    """A notebook as papermill leaves it: times, kernel timestamps, a random id on the
    injected parameters cell, text progress-bar frames on stderr beside a real warning."""
    params = nbformat.v4.new_code_cell("out_dir = 'results/cpu'", id="f1370a7a")
    params.metadata = {"tags": ["injected-parameters"], "papermill": {
        "duration": 0.01, "start_time": "2026-12-05T13:09:03+00:00",
        "end_time": "2026-12-05T13:09:03+00:00", "status": "completed", "exception": False}}
    work = nbformat.v4.new_code_cell("train()", id="c02", execution_count=2)
    work.metadata = {"execution": {"iopub.status.busy": "2026-12-05T13:09:03.951076Z"},
                     "papermill": {"duration": 4.4, "status": "completed"}}
    work.outputs = [
        nbformat.v4.new_output("stream", name="stderr",
                               text="\rSynthFace:   1%|          | 13/1600 [00:00<00:12, "
                                    "123.36face/s]"),
        nbformat.v4.new_output("stream", name="stderr",
                               text="\rruns: 100%|██████████| 3/3 [00:01<00:00,  2.10run/s]\n"),
        nbformat.v4.new_output("stream", name="stderr", text="\n"),
        nbformat.v4.new_output("stream", name="stderr",
                               text="UserWarning: a real warning\n"),
        nbformat.v4.new_output("stream", name="stdout", text="saved results/cpu/x.png\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[params, work], metadata={"papermill": {
        "duration": 9.2, "start_time": "2026-12-05T13:09:00", "end_time": "2026-12-05T13:09:09",
        "parameters": {"out_dir": "results/cpu"}, "version": "2.6.0"}})
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    return path


def test_executed_notebooks_keep_their_outputs_and_lose_times_and_progress_bars(tmp_path):
    path = _executed(tmp_path)
    assert stable_notebook(path)
    nb = nbformat.read(path, as_version=4)
    text = path.read_text()
    assert "2026-12-05" not in text and "duration" not in text and "face/s" not in text
    assert nb.cells[0].id == "injected-parameters"
    assert nb.metadata.papermill.parameters == {"out_dir": "results/cpu"}
    assert [o.get("text") for o in nb.cells[1].outputs] == [
        "UserWarning: a real warning\n", "saved results/cpu/x.png\n"]
    assert nb.cells[1].execution_count == 2
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert not stable_notebook(path)  # already stable: left as it is
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_the_tour_opened_without_out_dir_shows_its_figures_and_writes_nothing(tmp_path,
                                                                             monkeypatch):
    import numpy as np

    from sccnb.study import tour

    monkeypatch.chdir(tmp_path)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig = matplotlib.figure.Figure()  # built outside pyplot, as the pose histogram is
    fig.add_subplot().plot([0, 1])
    assert tour.show_figure(fig, None, "tour_x") is None
    assert tour.show_image(np.zeros((4, 4, 3), np.uint8), None, "tour_grid") is None
    assert len(shown) == 2 and not list(tmp_path.rglob("*"))
    tour.show_figure(fig, tmp_path, "tour_x")  # make passes out_dir: saved
    assert (tmp_path / "figures" / "tour_x.png").is_file() and len(shown) == 3
