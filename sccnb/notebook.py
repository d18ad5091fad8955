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
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from tqdm.std import tqdm as _std_tqdm

from .provenance import REPO_ROOT

__all__ = ["repo_path", "results_dir", "shown_path", "progress_bars", "in_jupyter_kernel"]


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
