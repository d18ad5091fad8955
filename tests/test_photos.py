"""The photo path's accuracy table (sccnb.study.photos): read from the committed evaluations,
current with the re-crop default, rendered from whatever evaluations exist."""

import json

from sccnb.inference.zoo import DEFAULT_REFINE
from sccnb.provenance import REPO_ROOT
from sccnb.study.photos import photo_rows, photo_table
from sccnb.training.runs import SHIPPED


def test_committed_rows_are_the_evaluations_at_the_default_passes():
    rows = photo_rows()
    shipped = [r for r in rows if r["shipped"]]
    assert [r["model"].strip("`") for r in shipped] == list(SHIPPED)
    for r in shipped:
        d = json.loads((REPO_ROOT / r["source"]).read_text())
        assert r["refine"] == DEFAULT_REFINE, (
            r["model"], "evaluated with other passes: re-run "
            "sccnb.inference.evalfolder.detector_vs_protocol")
        assert r["refined"] == d["refine_passes"][str(DEFAULT_REFINE)]
        assert r["protocol"]["count"] == r["faces"] >= r["detected"] == r["refined"]["count"]


def _summary(nme, fr, count):
    return {"count": count, "nme": nme, "fr": fr}


def test_table_from_a_run_store_of_its_own(tmp_path):
    runs, photos = tmp_path / "runs", tmp_path / "photos"
    photos.mkdir()
    assert "No photo-path evaluation" in photo_table(runs, photos)
    name, shipped = next(iter(SHIPPED.items()))
    (runs / shipped.run_id).mkdir(parents=True)
    (runs / shipped.run_id / "detector_vs_protocol_dlib-hog.json").write_text(json.dumps({
        "faces": 10, "detected": 9, "refine": 3, "protocol": _summary(0.05, 0.1, 10),
        "protocol_on_detected": _summary(0.049, 0.0, 9),
        "detector_boxes": _summary(0.0612345, 0.2222, 9),
        "detector_refined": _summary(0.051, 0.0, 9)}))
    table = photo_table(runs, photos, link_prefix="../")
    row = next(line for line in table.splitlines() if name in line)
    assert "| 5.00 / 10.0 | 4.90 / 0.0 | 6.12 / 22.2 | 5.10 / 0.0 (3 passes) |" in row
    assert "](../" in row  # the link as a page under docs/ needs it
    assert "on the 10 held-out faces" in table and "on the 9 faces" in table
