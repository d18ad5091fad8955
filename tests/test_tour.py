"""The tour's explorers, called without a browser: each view highlights what it claims (the
landmark's top-k row of M, the face's NME), and the controls redraw it; and the notebooks'
progress bars, widgets in a Jupyter kernel and text under make."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sccnb.layouts import get_layout  # noqa: E402
from sccnb.metrics import nme  # noqa: E402
from sccnb.model import topk_mask  # noqa: E402
from sccnb.plots import part_order  # noqa: E402
from sccnb.provenance import REPO_ROOT  # noqa: E402
from sccnb.study import tour  # noqa: E402
from sccnb.study.notebook import repo_path, results_dir, shown_path  # noqa: E402


@pytest.fixture(scope="module")
def graphs() -> dict[str, tour.ShapeGraph]:
    """The committed real statistics and 30 jittered copies of the WFLW mean as SynthFace."""
    stats = tour.shape_graphs(None)
    rng = np.random.default_rng(0)
    synth = stats["WFLW 98"].mean + rng.normal(0, 3, (30, 98, 2))
    return tour.shape_graphs(None, synth)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gid(ax, gid):
    return next(a for a in [*ax.collections, *ax.patches] if a.get_gid() == gid)


def test_shape_graphs_offer_the_three_layouts(graphs):
    assert list(graphs) == ["WFLW 98", "300-W 68", "SynthFace 98"]
    assert [len(g.mean) for g in graphs.values()] == [98, 68, 98]
    assert "committed statistics" in graphs["300-W 68"].label


def test_neighbour_view_highlights_the_landmarks_top_k_row(graphs):
    graph, k, landmark = graphs["300-W 68"], 5, 30
    view = tour.draw_neighbours(graph, k, landmark, "300-W 68")
    row_of_m = set(np.flatnonzero(topk_mask(graph.corr, k)[landmark])) - {landmark}
    assert set(view.neighbours) == row_of_m and len(view.neighbours) == k
    corr = graph.corr[landmark, view.neighbours]
    assert np.all(np.diff(corr) <= 0)  # most correlated first
    np.testing.assert_array_equal(view.row, graph.corr[landmark])
    face, heat, bars = view.figure.axes[:3]
    np.testing.assert_allclose(_gid(face, "neighbours").get_offsets(), graph.mean[view.neighbours])
    np.testing.assert_allclose(_gid(face, "landmark").get_offsets(), graph.mean[[landmark]])
    # the outlined row of the heatmap is the landmark's, in the heatmap's part order
    order, _ = part_order(get_layout("300w68"))
    assert order[int(_gid(heat, "row").get_y())] == landmark
    dotted = _gid(heat, "row_neighbours").get_offsets()
    assert set(order[(dotted[:, 0] - 0.5).astype(int)]) == row_of_m
    with pytest.raises(ValueError, match="landmark must be in"):
        tour.draw_neighbours(graph, k, 68)


def test_graph_explorer_without_a_browser_draws_the_default_view(graphs):
    view = tour.explore_graph(graphs, interactive=False)
    assert (view.k, view.landmark) == (3, get_layout("wflw98").interocular[0])
    assert plt.get_fignums() == []  # shown once and released


def test_graph_explorer_controls_redraw_the_view(graphs, monkeypatch):
    draws = []
    draw = tour.draw_neighbours
    monkeypatch.setattr(tour, "draw_neighbours", lambda *a: draws.append(a) or draw(*a))
    form = tour.explore_graph(graphs, k=3, interactive=True)
    shapes, k, landmark = form.children[:3]
    assert form.result.landmark == 60 and landmark.max == 97
    shapes.value = "300-W 68"  # 68 points: the sliders shrink, the landmark moves to an eye
    assert (k.max, landmark.max, landmark.value) == (67, 67, 36)
    assert len(draws) == 2  # the first view, then one redraw
    k.value, landmark.value = 7, 48
    view = form.result
    assert (view.k, view.landmark, len(view.row)) == (7, 48, 68)
    assert set(view.neighbours) == set(
        np.flatnonzero(topk_mask(graphs["300-W 68"].corr, 7)[48])) - {48}
    shapes.value = "SynthFace 98"
    assert form.result.row is not None and len(form.result.row) == 98


@pytest.fixture(scope="module")
def faces() -> tour.PredictedFaces:
    """Five faces whose predictions are off by growing amounts (face 3 worst, face 1 best)."""
    rng = np.random.default_rng(1)
    truth = tour.shape_graphs(None)["WFLW 98"].mean / 4 + rng.normal(0, 1, (5, 98, 2))
    noise = np.array([2.0, 0.5, 3.0, 6.0, 1.0])[:, None, None]
    pred = truth + noise * rng.normal(0, 1, truth.shape)
    images = np.zeros((5, 64, 64, 3), np.uint8)
    return tour.PredictedFaces(images, truth, pred, "wflw98", [f"face{i}" for i in range(5)])


def test_prediction_view_shows_the_faces_nme(faces):
    np.testing.assert_allclose(faces.nme, nme(faces.pred, faces.truth, "wflw98"))
    view = tour.draw_prediction(faces, 2)
    assert view.index == 2 and view.nme == pytest.approx(faces.nme[2])
    face, hist = view.figure.axes
    assert f"NME {100 * faces.nme[2]:.2f} %" in face.get_title()
    line = next(a for a in hist.lines if a.get_gid() == "this_face")
    assert line.get_xdata()[0] == pytest.approx(100 * faces.nme[2])
    assert tour.draw_prediction(faces, 0, "worst first").index == 3
    assert tour.draw_prediction(faces, 0, "best first").index == 1
    with pytest.raises(ValueError, match="unknown order"):
        tour.face_order(faces, "random")


def test_prediction_explorer_steps_through_the_faces(faces):
    assert tour.explore_predictions(faces, interactive=False).index == 0
    form = tour.explore_predictions(faces, interactive=True)
    face, order = form.children[:2]
    # the slider counts from 1, as the figure's title "face 1 of 5" does
    assert (face.min, face.max, face.value) == (1, 5, 1) and form.result.index == 0
    order.value = "worst first"
    face.value = 2
    assert form.result.index == int(np.argsort(-faces.nme)[1])


def test_paths_are_taken_from_and_shown_relative_to_the_repository():
    assert repo_path("") == ""
    assert repo_path("results/x") == str(REPO_ROOT / "results" / "x")
    assert repo_path("/data/faces") == "/data/faces"
    assert results_dir("", "cpu") == REPO_ROOT / "results" / "cpu"
    assert results_dir("results/smoke", "cpu") == REPO_ROOT / "results" / "smoke"
    assert shown_path(REPO_ROOT / "results" / "cpu") == "results/cpu"
    assert shown_path(REPO_ROOT.parent / "shared" / "data") == "../shared/data"
    assert (REPO_ROOT / shown_path("/elsewhere/data")).resolve() == Path("/elsewhere/data")


PROGRESS_NOTEBOOK = [
    # package modules that bound tqdm.auto's own choice before progress_bars was called (the
    # crops' bar; the SynthFace generator's)
    "import sccnb.data.crops, sccnb.data.synth.writer, tqdm.auto, tqdm.notebook\n"
    "from sccnb.study.notebook import progress_bars\n"
    "def kinds(*bars):\n"
    "    print(*('widgets' if issubclass(b, tqdm.notebook.tqdm) else 'text' for b in bars))",
    # make: text bars; then a person in JupyterLab: widgets; then text again
    *[f"chosen = progress_bars(widgets={widgets})\n"
      "kinds(chosen, sccnb.data.crops.tqdm, sccnb.data.synth.writer.tqdm, tqdm.auto.tqdm)\n"
      "for _ in sccnb.data.crops.tqdm(range(3), desc='bar'): pass"
      for widgets in (False, True, False)],
]


@pytest.mark.notebook
def test_progress_bars_are_widgets_in_jupyterlab_and_text_under_make(tmp_path):
    """In a Jupyter kernel (papermill's, here) the bars of sccnb's modules follow each call:
    widget views, or text on stderr; never tqdm's "IProgress not found" warning."""
    import papermill as pm

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(src) for src in PROGRESS_NOTEBOOK]
    nbformat.write(nb, tmp_path / "bars.ipynb")
    done = pm.execute_notebook(str(tmp_path / "bars.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name="python3", progress_bar=False)
    for cell, widgets in zip(done.cells[1:], (False, True, False)):
        stdout = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
        stderr = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")
        views = [o for o in cell.outputs
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert stdout.split() == ["widgets" if widgets else "text"] * 4
        assert "Warning" not in stderr
        if widgets:
            assert views and "3/3" not in stderr
        else:
            assert not views and "bar: 100%" in stderr and "3/3" in stderr
