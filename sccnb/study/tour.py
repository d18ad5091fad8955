"""The teaching notebook's helpers: real and synthetic landmark shapes in a common frame, their
Pearson correlation (Eq. 4), and the small committed statistics used when the real data is not
on this machine.

Real shapes come from ``shared/data`` (not part of the repository): the 1,966 distinct faces of
the official WFLW test-subset lists (98 points) and the 1,207 faces of ``300w_mini`` (68
points). Before correlating, each shape is placed in a 256-px frame around its own landmark
extent (the same normalisation the 300-W crops use): otherwise the face's position in the
photo would dominate every correlation.

``sccnb/data/stats/real_shape_stats.npz`` holds, for each layout, the correlation matrix C
and the mean shape computed by :func:`compute_real_stats` from that data (a few tens of KB, no
image and no individual shape), with its provenance in ``real_shape_stats.json``.

The tour's two explorers draw one view per call (:func:`draw_neighbours`,
:func:`draw_prediction`), so a test can call them without a browser; :func:`explore_graph` and
:func:`explore_predictions` put controls (ipywidgets) in front of them in JupyterLab, and show
the default view as a static figure where no browser is attached (papermill, ``make tour``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..layouts import get_layout
from ..metrics import nme
from ..model.graph import pearson_correlation, topk_mask
from ..provenance import atomic_write_bytes, git_commit, write_json

__all__ = ["box_normalise", "real_shapes", "compute_real_stats", "load_real_stats",
           "STATS_PATH", "ShapeGraph", "shape_graphs", "neighbours", "NeighbourView",
           "draw_neighbours", "explore_graph", "PredictedFaces", "predicted_faces",
           "face_order", "PredictionView", "draw_prediction", "draw_prediction_row",
           "explore_predictions", "show_figure", "show_image"]

STATS_PATH = Path(__file__).resolve().parents[1] / "data" / "stats" / "real_shape_stats.npz"


def box_normalise(shapes: np.ndarray, size: float = 256.0, scale: float = 1.25) -> np.ndarray:
    """Place every shape in a ``size``-px square of side ``scale`` × its landmark extent,
    centred on the extent (translation and one scale per shape; no rotation)."""
    shapes = np.asarray(shapes, dtype=np.float64)
    lo, hi = shapes.min(axis=1, keepdims=True), shapes.max(axis=1, keepdims=True)
    side = scale * (hi - lo).max(axis=2, keepdims=True)
    return (shapes - (lo + hi) / 2) * (size / side) + (size - 1) / 2


def real_shapes(shared_data: str | Path, layout: str) -> np.ndarray:
    """Real annotated shapes from ``shared/data``: ``"wflw98"`` (distinct faces of the WFLW
    test-subset lists) or ``"300w68"`` (300w_mini). Raw pixel coordinates, 0-based."""
    from ..data import read_300w, read_wflw_subset_list

    root = Path(shared_data)
    if layout == "wflw98":
        seen: dict[tuple, np.ndarray] = {}
        for path in sorted((root / "wflw_annotations" / "list_98pt_test").glob("*.txt")):
            for image, pts in read_wflw_subset_list(path):
                seen.setdefault((image, round(float(pts[0, 0]), 2)), pts)
        return np.stack(list(seen.values()))
    if layout == "300w68":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 300w_mini holds only afw + helen/trainset
            records = read_300w(root / "300w_mini", "train")
        return np.stack([r.landmarks for r in records])
    raise ValueError(f"real shapes exist for 'wflw98' and '300w68', not {layout!r}")


def compute_real_stats(shared_data: str | Path, path: Path = STATS_PATH) -> Path:
    """Compute and write the committed statistics (C and the mean shape per layout)."""
    import io

    arrays, counts = {}, {}
    for layout in ("wflw98", "300w68"):
        shapes = box_normalise(real_shapes(shared_data, layout))
        arrays[f"{layout}_corr"] = pearson_correlation(shapes).astype(np.float32)
        arrays[f"{layout}_mean"] = shapes.mean(axis=0).astype(np.float32)
        counts[layout] = int(len(shapes))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    write_json(path.with_suffix(".json"), {
        "what": "Pearson correlation C = (|Cx| + |Cy|) / 2 (Eq. 4) and mean shape of real "
                "annotated faces, each shape first placed in a 256-px frame of 1.25x its "
                "landmark extent (sccnb.study.tour.box_normalise).",
        "sources": {"wflw98": "shared/data/wflw_annotations/list_98pt_test/*.txt (the "
                              "official WFLW test-subset lists; distinct faces)",
                    "300w68": "shared/data/300w_mini (AFW + HELEN trainset, .pts files)"},
        "faces": counts,
        "made_by": "sccnb.study.tour.compute_real_stats",
        "commit": git_commit(),
        "note": "Only these aggregate statistics are in the repository; no image, crop or "
                "individual shape of the real datasets is.",
    })
    return path


def load_real_stats(path: Path = STATS_PATH) -> tuple[dict[str, np.ndarray], dict]:
    """The committed statistics and their provenance."""
    with np.load(path) as z:
        arrays = {k: z[k].astype(np.float64) for k in z.files}
    return arrays, json.loads(path.with_suffix(".json").read_text())


# -- the top-k graph explorer ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ShapeGraph:
    """What the graph explorer draws for one set of shapes."""

    corr: np.ndarray  # (N, N) Pearson correlation C of Eq. 4
    mean: np.ndarray  # (N, 2) mean shape in the 256-px frame of box_normalise
    layout: str  # "wflw98" or "300w68"
    label: str  # where the shapes come from, e.g. "1966 real faces"


def shape_graphs(shared_data: str | Path | None, synth_shapes: np.ndarray | None = None
                 ) -> dict[str, ShapeGraph]:
    """The tour's shape sets: real WFLW (98 points) and 300-W (68 points) faces, read from
    ``shared_data`` when it is given, else the committed statistics; and SynthFace's training
    shapes ``(M, 98, 2)`` when given. Keys are the names the tour shows."""
    out = {}
    stats, prov = load_real_stats() if shared_data is None else (None, None)
    for name, layout in (("WFLW 98", "wflw98"), ("300-W 68", "300w68")):
        if shared_data is not None:
            shapes = box_normalise(real_shapes(shared_data, layout))
            out[name] = ShapeGraph(pearson_correlation(shapes), shapes.mean(0), layout,
                                   f"{len(shapes)} real faces")
        else:
            out[name] = ShapeGraph(stats[f"{layout}_corr"], stats[f"{layout}_mean"], layout,
                                   f"{prov['faces'][layout]} real faces (committed statistics)")
    if synth_shapes is not None:
        out["SynthFace 98"] = ShapeGraph(pearson_correlation(synth_shapes), synth_shapes.mean(0),
                                         "wflw98", f"{len(synth_shapes)} training faces")
    return out


def neighbours(corr: np.ndarray, k: int, landmark: int) -> np.ndarray:
    """The ``k`` neighbours of ``landmark`` in the top-k graph (Eq. 5): the non-self entries of
    its row of M, most correlated first."""
    n = len(corr)
    if not 0 <= landmark < n:
        raise ValueError(f"landmark must be in [0, {n - 1}] for {n} landmarks, got {landmark}")
    idx = np.flatnonzero(topk_mask(corr, k)[landmark])
    idx = idx[idx != landmark]
    return idx[np.argsort(-np.asarray(corr)[landmark, idx], kind="stable")]


@dataclasses.dataclass
class NeighbourView:
    """One view of the graph explorer: the figure and what it highlights."""

    figure: Any  # matplotlib Figure: graph on the mean face | C with the row | the row
    landmark: int
    k: int
    neighbours: np.ndarray  # (k,) landmark indices, most correlated first
    row: np.ndarray  # (N,) the landmark's row of C


def draw_neighbours(graph: ShapeGraph, k: int, landmark: int, name: str = "") -> NeighbourView:
    """Draw the top-k graph on the mean face with ``landmark`` (black) and its ``k`` neighbours
    (orange) highlighted, beside the correlation matrix C with the landmark's row outlined and
    that row as bars (the ``k + 1`` kept entries coloured)."""
    import matplotlib.pyplot as plt

    from ..plots import correlation_heatmap, graph_on_face, part_order

    near = neighbours(graph.corr, k, landmark)
    row = np.asarray(graph.corr)[landmark]
    pts = np.asarray(graph.mean)
    title = f"{name}, {graph.label}" if name else graph.label
    fig, (face, heat, bars) = plt.subplots(
        1, 3, figsize=(16, 5), gridspec_kw={"width_ratios": [1, 1.2, 1.4]})

    graph_on_face(pts, topk_mask(graph.corr, k), graph.layout, face,
                  f"k = {k}: landmark {landmark} and its neighbours")
    for j in near:
        face.plot(pts[[landmark, j], 0], pts[[landmark, j], 1], "-", color="C1", lw=2.5,
                  zorder=4)
    face.scatter(pts[near, 0], pts[near, 1], s=70, color="C1", edgecolor="k", zorder=5,
                 gid="neighbours")
    face.scatter(pts[[landmark], 0], pts[[landmark], 1], s=110, color="k", marker="*",
                 zorder=6, gid="landmark")

    order, spans = part_order(get_layout(graph.layout))  # the heatmap's landmark order
    where = np.argsort(order)  # landmark -> its position in that order
    correlation_heatmap(graph.corr, graph.layout, heat, title)
    heat.add_patch(plt.Rectangle((0, where[landmark]), len(order), 1, fill=False,
                                 edgecolor="C1", lw=1.5, gid="row"))
    heat.scatter(where[near] + 0.5, np.full(len(near), where[landmark] + 0.5), s=12,
                 color="w", edgecolor="k", lw=0.5, zorder=5, gid="row_neighbours")

    colours = np.full(len(order), "0.7", dtype=object)
    colours[where[near]] = "C1"
    colours[where[landmark]] = "k"
    bars.bar(np.arange(len(order)), row[order], width=1.0, color=list(colours))
    if len(near):
        bars.axhline(row[near].min(), color="C1", ls="--", lw=0.8)
    bars.set_xticks([(a + b) / 2 for _, a, b in spans],
                    [p.replace("_", " ") for p, _, _ in spans], rotation=90, fontsize=7)
    bars.set_xlim(-0.5, len(order) - 0.5)
    bars.set_ylim(0, 1.02)
    bars.set_ylabel("C")
    bars.set_title(f"row {landmark} of C: the {k + 1} largest entries are kept", fontsize=10)
    fig.tight_layout()
    return NeighbourView(fig, landmark, k, near, row)


def _show(fig) -> None:
    """Display a figure once (as a static image in a notebook) and release it."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def show_figure(fig, out: Path | None, name: str) -> None:
    """Show a figure of the tour inline (whether pyplot or a plain ``Figure`` made it) and,
    when ``out`` is given (``make tour`` passes ``out_dir``), save it as
    ``<out>/figures/<name>.png`` (rewritten only when it changes) and say where. Opened in
    JupyterLab without ``out_dir``, the tour writes nothing. Returns nothing, so that a cell
    ending with it shows no (absolute) path."""
    if out is not None:
        from .notebook import shown_path
        from .report import save_figure

        print("saved", shown_path(save_figure(fig, out, name)))
    _show(fig)


def show_image(rgb: np.ndarray, out: Path | None, name: str) -> None:
    """:func:`show_figure` for an RGB array (the SynthFace grid): shown as a PNG, saved as
    ``<out>/figures/<name>.png`` when ``out`` is given."""
    import cv2
    from IPython.display import Image, display

    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"could not encode {name}.png")
    if out is not None:
        from .notebook import shown_path

        path = atomic_write_bytes(Path(out) / "figures" / f"{name}.png", png.tobytes(),
                                  changed_only=True)
        print("saved", shown_path(path))
    display(Image(data=png.tobytes(), format="png"))


def explore_graph(graphs: Mapping[str, ShapeGraph], *, k: int = 3, landmark: int | None = None,
                  interactive: bool = True):
    """Controls for :func:`draw_neighbours`: a dropdown over ``graphs`` (e.g. WFLW 98, 300-W 68,
    SynthFace), sliders for k and the landmark. ``interactive=False`` (no browser attached, as
    under papermill) displays the default view, the first graph's, as a static figure and
    returns its :class:`NeighbourView`; otherwise displays and returns the ipywidgets form,
    whose ``result`` is the view on show. ``landmark=None`` is the layout's first outer eye
    corner."""
    names = list(graphs)

    def default_landmark(name: str) -> int:
        return get_layout(graphs[name].layout).interocular[0] if landmark is None else landmark

    def show(shapes: str, k: int, landmark: int) -> NeighbourView:
        view = draw_neighbours(graphs[shapes], k, landmark, shapes)
        _show(view.figure)
        return view

    if not interactive:
        return show(names[0], k, default_landmark(names[0]))

    import ipywidgets as widgets
    from IPython.display import display

    n = len(graphs[names[0]].mean)
    shapes = widgets.Dropdown(options=names, value=names[0], description="shapes")
    k_slider = widgets.IntSlider(value=k, min=1, max=n - 1, description="k",
                                 continuous_update=False)
    lm_slider = widgets.IntSlider(value=default_landmark(names[0]), min=0, max=n - 1,
                                  description="landmark", continuous_update=False)

    def on_shapes(change) -> None:
        # registered before the form's own observer: the sliders fit the new layout before it
        # redraws, once (they are unhooked from the form while they change)
        m = len(graphs[change["new"]].mean)
        for slider in (k_slider, lm_slider):
            slider.unobserve(form.update, names="value")
        k_slider.max, lm_slider.max = m - 1, m - 1
        if graphs[change["new"]].layout != graphs[change["old"]].layout:
            lm_slider.value = min(default_landmark(change["new"]), m - 1)
        for slider in (k_slider, lm_slider):
            slider.observe(form.update, names="value")

    shapes.observe(on_shapes, names="value")
    form = widgets.interactive(show, shapes=shapes, k=k_slider, landmark=lm_slider)
    display(form)
    return form


# -- stepping through a trained model's predictions -------------------------------------------

@dataclasses.dataclass
class PredictedFaces:
    """Test faces with their annotation and a model's prediction, in the crop's pixels."""

    images: np.ndarray  # (M, S, S, 3) uint8 crops
    truth: np.ndarray  # (M, N, 2)
    pred: np.ndarray  # (M, N, 2)
    layout: str
    names: list[str]
    nme: np.ndarray = dataclasses.field(init=False)  # (M,) per-image NME (fraction)

    def __post_init__(self) -> None:
        self.nme = nme(self.pred, self.truth, self.layout)


def predicted_faces(crops, pred: np.ndarray, ref_size: int = 256) -> PredictedFaces:
    """A CropSet and a model's prediction on it, as ``sccnb.training.evaluate.predict`` returns it
    (in the ``ref_size`` crop frame)."""
    scale = ref_size / crops.size
    return PredictedFaces(crops.images.permute(0, 2, 3, 1).cpu().numpy(),
                          crops.landmarks.cpu().double().numpy(), np.asarray(pred) / scale,
                          crops.layout, list(crops.names))


ORDERS = ("test order", "worst first", "best first")


def face_order(faces: PredictedFaces, order: str = "test order") -> np.ndarray:
    """Face indices in the order stepped through: as in the test set, or by per-image NME."""
    if order == "test order":
        return np.arange(len(faces.nme))
    if order == "worst first":
        return np.argsort(-faces.nme, kind="stable")
    if order == "best first":
        return np.argsort(faces.nme, kind="stable")
    raise ValueError(f"unknown order {order!r}; supported: {', '.join(ORDERS)}")


@dataclasses.dataclass
class PredictionView:
    """One view of the prediction explorer."""

    figure: Any  # matplotlib Figure: the face | the NME histogram
    index: int  # the face's index in the test set
    nme: float  # its NME (fraction)


def draw_prediction(faces: PredictedFaces, step: int = 0, order: str = "test order"
                    ) -> PredictionView:
    """The ``step``-th face in ``order``: annotation (green), prediction (red) and each point's
    error (yellow), beside the histogram of every test face's NME with this one's marked."""
    import matplotlib.pyplot as plt

    from ..plots import draw_landmarks

    i = int(face_order(faces, order)[step])
    err = 100 * faces.nme[i]
    fig, (face, hist) = plt.subplots(1, 2, figsize=(10, 4.6),
                                     gridspec_kw={"width_ratios": [1, 1.3]})
    truth, pred = faces.truth[i], faces.pred[i]
    draw_landmarks(face, faces.images[i], truth, faces.layout, color="lime", size=6,
                   lines=False, label="annotation")
    draw_landmarks(face, None, pred, faces.layout, color="red", size=6, lines=False,
                   label="prediction")
    for a, b in zip(truth, pred):
        face.plot([a[0], b[0]], [a[1], b[1]], "-", color="yellow", lw=0.7)
    face.set_title(f"{faces.names[i]}: NME {err:.2f} %", fontsize=10)
    face.legend(loc="lower left", fontsize=7)
    hist.hist(100 * faces.nme, bins=min(30, max(5, len(faces.nme) // 3)), color="0.7")
    hist.axvline(err, color="red", lw=2, gid="this_face")
    hist.set_xlabel("NME (%)")
    hist.set_ylabel("test faces")
    hist.set_title(f"face {step + 1} of {len(faces.nme)} ({order}); mean NME "
                   f"{100 * faces.nme.mean():.2f} %", fontsize=10)
    fig.tight_layout()
    return PredictionView(fig, i, float(faces.nme[i]))


def draw_prediction_row(faces: PredictedFaces, count: int = 6, title: str = ""):
    """The first ``count`` test faces side by side (annotation green, prediction red)."""
    import matplotlib.pyplot as plt

    from ..plots import draw_landmarks

    fig, axes = plt.subplots(1, count, figsize=(2.5 * count, 2.8), squeeze=False)
    for i, ax in enumerate(axes[0]):
        draw_landmarks(ax, faces.images[i], faces.truth[i], faces.layout, color="lime", size=3,
                       lines=False)
        draw_landmarks(ax, None, faces.pred[i], faces.layout, color="red", size=3, lines=False)
    fig.suptitle(title)
    return fig


def explore_predictions(faces: PredictedFaces, *, interactive: bool = True):
    """Controls for :func:`draw_prediction`: a slider over the test faces and the order to step
    through them in (test order, worst or best NME first). ``interactive=False`` displays the
    first face as a static figure and returns its :class:`PredictionView`; otherwise displays
    and returns the ipywidgets form (``result``: the view on show)."""

    def show(face: int, order: str) -> PredictionView:  # face counts from 1, as the title
        view = draw_prediction(faces, face - 1, order)
        _show(view.figure)
        return view

    if not interactive:
        return show(1, ORDERS[0])

    import ipywidgets as widgets
    from IPython.display import display

    face = widgets.IntSlider(value=1, min=1, max=len(faces.nme), description="face",
                             continuous_update=False)
    order = widgets.Dropdown(options=ORDERS, value=ORDERS[0], description="order")
    form = widgets.interactive(show, face=face, order=order)
    display(form)
    return form
