"""What every notebook's setup cell shares: where its files go, how it prints paths, and which
progress bars it draws.

A notebook runs in two places. In JupyterLab (``make lab``) a person watches it: progress bars
and the tour's controls are Jupyter widgets. Under papermill (``make``, the tests) no browser is
attached and the log is text: bars are text and the tour draws static figures. Every notebook's
``interactive`` parameter says which; ``make`` passes ``False``.

Papermill runs the notebooks in ``notebooks/`` (as JupyterLab does), while ``make`` passes paths
relative to the repository root: :func:`repo_path` takes them from there. What a notebook prints
goes through :func:`shown_path`, so that an executed notebook carries no machine's absolute
paths.

``make`` passes every executed copy through :func:`stable_notebook` (``python -m sccnb
stable-notebook PATH``): papermill's times and durations, the kernel's execution timestamps and
text progress bars (their rates and times) are taken out, and the injected parameters cell gets
a fixed id, so that the same inputs give the same file and a re-render with nothing new leaves
``git status`` clean.

Every notebook's first cell after the parameters cell calls :func:`check_parameters`: a value
papermill passed with the wrong type or outside what the notebook accepts (``-p seeds 0``,
``-p workers abc``) is a :class:`~sccnb.errors.ConfigError` naming the parameter, what it got
and what it expects, before any work.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

from tqdm.std import tqdm as _std_tqdm

from ..provenance import REPO_ROOT

__all__ = ["repo_path", "results_dir", "shown_path", "progress_bars", "in_jupyter_kernel",
           "PARAMETERS", "check_parameters", "stable_notebook"]


class _TextBar(_std_tqdm):
    """tqdm's text bar as :func:`progress_bars` hands it out: a subclass, so that a module that
    took it from ``tqdm.auto`` can be told from one that imports text bars itself."""


def repo_path(path: str | Path) -> str:
    """``path`` with a relative path taken from the repository root, as ``make`` means it, not
    from the notebook's working directory; ``""`` (a notebook's default) stays ``""``."""
    if not str(path):
        return ""
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (REPO_ROOT / p).resolve())


def results_dir(out_dir: str | Path, profile: str) -> Path:
    """Where a notebook writes its tables, figures and executed copy: ``out_dir`` (relative to
    the repository root), or ``results/<profile>`` when ``out_dir`` is ``""``."""
    return Path(repo_path(out_dir) or REPO_ROOT / "results" / profile)


def shown_path(path: str | Path) -> str:
    """``path`` as a notebook prints it: relative to the repository root (``results/cpu``,
    ``../shared/data``), the form ``make`` passes paths in."""
    return os.path.relpath(Path(path).expanduser().resolve(), REPO_ROOT)


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, or papermill's kernel), False in a plain
    Python process or an IPython terminal."""
    if "ipykernel.zmqshell" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def progress_bars(widgets: bool) -> type:
    """Choose what ``tqdm.auto`` -- the progress bars of data preparation and training -- draws
    in this process: Jupyter widgets when ``widgets`` is true in a Jupyter kernel with
    ipywidgets, text otherwise (papermill's log shows text only; a widget there is a frozen
    ``0%`` line). Returns the bar class chosen.

    ``tqdm.auto`` decides once, when first imported, and modules bind its class at their import:
    this sets the class on ``tqdm.auto`` (for modules imported later) and on the ``sccnb``
    modules already imported from it. It also silences tqdm's notice that widget bars are in
    use, and its warning that ipywidgets is missing (bars are then text).
    """
    from tqdm import TqdmExperimentalWarning, TqdmWarning

    warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)  # "IProgress not found" without ipywidgets
        import tqdm.auto
        import tqdm.autonotebook
        from tqdm.notebook import IProgress
        from tqdm.notebook import tqdm as widget_bar

    use_widgets = widgets and IProgress is not None and in_jupyter_kernel()
    chosen = widget_bar if use_widgets else _TextBar
    previous = tqdm.auto.tqdm
    for module in (tqdm.auto, tqdm.autonotebook):
        module.tqdm = chosen
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "sccnb":
            continue
        bar = getattr(module, "tqdm", None)
        # a module that took its class from tqdm.auto, before or after an earlier call (one
        # that imports text bars itself, ``from tqdm import tqdm``, is left alone)
        if (bar is previous and bar is not _std_tqdm) or bar in (widget_bar, _TextBar):
            module.tqdm = chosen
    return chosen


# --- the notebooks' parameters -------------------------------------------------------------------
def _seeds(value: Any) -> str | None:
    if not (isinstance(value, list) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        return "a non-empty list of integers >= 0, e.g. [0, 1, 2] (papermill: -y 'seeds: [0]')"
    if len(set(value)) != len(value):
        return "a list of distinct seeds"
    return None


def _ints_from(low: int, what: str = "") -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"an integer >= {low}{what}"
        return None
    return check


def _int_list(low: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not (isinstance(value, list) and value and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value)):
            return f"a non-empty list of integers >= {low}"
        return None
    return check


def _one_of(names: Callable[[], Any]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        allowed = list(names())
        return None if value in allowed else f"one of {', '.join(map(str, allowed))}"
    return check


def _profiles() -> list[str]:
    from ..training.config import PROFILES

    return list(PROFILES)


def _datasets() -> list[str]:
    from ..data.datasets import DATASETS

    return list(DATASETS)


def _device(value: Any) -> str | None:
    from ..errors import DEVICE_NAME

    return None if DEVICE_NAME.match(str(value).strip().lower()) else "auto, cpu, cuda or cuda:N"


def _input_size(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 32 or value % 32:
        return "a multiple of 32 (>= 32)"
    return None


def _layout(value: Any) -> str | None:
    from ..layouts import get_layout

    try:
        get_layout(value)
    except (ValueError, KeyError, TypeError):
        return "wflw98, 300w68 or cofw29"
    return None


# name -> (type, further check: None when the value is fine, else what is expected)
PARAMETERS: dict[str, tuple[type, Callable[[Any], str | None] | None]] = {
    "profile": (str, _one_of(_profiles)),
    "real_profile": (str, _one_of(lambda: [p for p in _profiles() if p.startswith("real")])),
    "synth_profile": (str, _one_of(_profiles)),
    "data_root": (str, None),
    "shared_data": (str, None),
    "out_dir": (str, None),
    "device": (str, _device),
    "seeds": (list, _seeds),
    "workers": (int, _ints_from(0, " (0: the profile's default)")),
    "interactive": (bool, None),
    "ablations": (bool, None),
    "missing": (str, _one_of(lambda: ("train", "skip"))),
    "dataset": (str, _one_of(_datasets)),
    "layout": (str, _layout),
    "input_size": (int, _input_size),
    "repeats": (int, _ints_from(1)),
    "remeasure": (bool, None),
    "k_values": (list, _int_list(1)),
    "overrides": (dict, None),
}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "True or False", list: "a list",
               dict: "a mapping (papermill: -y 'overrides: {epochs: 10}')"}


def check_parameters(namespace: dict[str, Any]) -> None:
    """Check the notebook parameters in ``namespace`` (the notebook's ``globals()``) that
    :data:`PARAMETERS` knows: the first :class:`~sccnb.errors.ConfigError` names the
    parameter, the value it got and what it expects."""
    from ..errors import ConfigError

    for name, (kind, check) in PARAMETERS.items():
        if name not in namespace:
            continue
        value = namespace[name]
        wrong_type = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        expected = check(value) if check else None
        if wrong_type:
            expected = expected or _TYPE_NAMES[kind]
        if expected:
            raise ConfigError(f"notebook parameter {name}={value!r} ({type(value).__name__}): "
                              f"expected {expected}")


# --- executed copies that change only when their content does ------------------------------------
# papermill's per-notebook and per-cell times; the kernel's per-cell timestamps
_VOLATILE_PAPERMILL = ("start_time", "end_time", "duration")
# one frame of a tqdm text bar: "desc:  40%|####      | 4/10 [00:01<00:02, 2.9it/s]"
_TQDM_FRAME = re.compile(r"^.*\d+%\|.*\| *[\d.]+[kMG]?/[\d.?]+[kMG]? \[.*\]\s*$|"
                         r"^.*: *\d+[kMG]?[a-zA-Z/]* \[[\d:]+, .*\]\s*$")


def _progress_only(text: str) -> bool:
    """True when ``text`` (a stderr stream output) holds nothing but tqdm text-bar frames (or
    the blank line a closing bar leaves)."""
    return all(_TQDM_FRAME.match(p) for p in re.split(r"[\r\n]", text) if p.strip())


def stable_notebook(path: str | Path) -> bool:
    """Take out of an executed notebook what changes at every execution although nothing in it
    did: papermill's times and durations, the kernel's execution timestamps and the frames of
    text progress bars (stderr outputs holding only bars: their rates and times); give
    papermill's injected parameters cell a fixed id. Outputs, execution counts and every other
    field stay. Rewrites ``path`` only when that changes it; returns whether it did."""
    import nbformat

    from ..provenance import atomic_write_text

    path = Path(path)
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in _VOLATILE_PAPERMILL:
        meta.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in _VOLATILE_PAPERMILL:
            cell.metadata.get("papermill", {}).pop(key, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (
                o.get("output_type") == "stream" and o.get("name") == "stderr"
                and _progress_only(o.get("text", "")))]
    after = nbformat.writes(nb) + "\n"
    if after == before:
        return False
    atomic_write_text(path, after)
    return True
