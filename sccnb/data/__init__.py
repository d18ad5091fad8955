"""Dataset readers for the paper's benchmarks (Sec. 4.1): WFLW, 300-W, COFW and COFW-68.

Every reader returns a :class:`ReadResult` -- a list of :class:`FaceRecord` with 0-based pixel
coordinates (each file's convention is converted once, at read time; see each module's
docstring and ``shared/docs/protocol.md``) -- and raises :class:`DataFormatError`
(``file:line: what is wrong``) on bad input. With ``on_error="skip"`` a reader drops bad
records instead, lists their errors in the result's ``.skipped`` and warns once.

``python -m sccnb data check FORMAT PATH`` (:mod:`sccnb.data.check`) validates a whole
downloaded dataset folder and lists every problem.

Importing this package costs only numpy; h5py, scipy and PIL load when a reader needs them.
"""

from ._io import (NO_IMAGE, IncompleteDatasetWarning, ReadResult, SkippedRecordsWarning)
from .cofw import read_cofw, read_cofw68
from .records import WFLW_ATTRIBUTES, DataFormatError, FaceRecord
from .w300 import read_300w, read_300w_csv, read_pts
from .wflw import WFLW_SUBSETS, read_wflw, read_wflw_subset_list

__all__ = [
    "FaceRecord",
    "DataFormatError",
    "ReadResult",
    "SkippedRecordsWarning",
    "IncompleteDatasetWarning",
    "NO_IMAGE",
    "WFLW_ATTRIBUTES",
    "WFLW_SUBSETS",
    "read_pts",
    "read_wflw",
    "read_wflw_subset_list",
    "read_300w",
    "read_300w_csv",
    "read_cofw",
    "read_cofw68",
]
