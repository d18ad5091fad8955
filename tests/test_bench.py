"""Benchmarks (sccnb.perf.bench): the quick CPU run writes well-formed JSON whose goal verdicts
agree with the numbers written; the pure helpers are checked by hand."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sccnb.perf.bench import BENCHMARKS, GOALS, Goal, project_wall_time, run_all
from sccnb.perf.bench.common import interleaved

NAMES = ("training", "pipeline", "inference", "synth", "profiles")


@pytest.fixture(scope="module")
def quick_dir(tmp_path_factory) -> Path:
    """One ``python -m sccnb bench --quick`` run on the CPU (the CLI path end to end)."""
    out = tmp_path_factory.mktemp("bench")
    # one thread: two threads fighting other jobs for two cores can be many times slower
    cmd = [sys.executable, "-m", "sccnb", "bench", "--quick", "--device", "cpu", "--out",
           str(out), "--threads", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "applicable goals met" in proc.stdout
    return out


def _load(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def _numbers(obj):
    """Every int/float leaf of a nested JSON object (booleans excluded)."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def test_every_file_has_the_common_record(quick_dir):
    assert sorted(p.name for p in quick_dir.glob("*.json")) == sorted(
        [f"{n}.json" for n in NAMES] + ["summary.json"])
    for name in NAMES:
        rec = _load(quick_dir, name)
        assert rec["benchmark"] == name and rec["quick"] is True
        assert rec["device"] == "cpu" and rec["device_name"]
        assert rec["params"] and rec["goals"] and rec["notes"]
        assert rec["provenance"]["commit"] and rec["provenance"]["torch"] == torch.__version__
        assert len(rec["host"]["start"]["loadavg"]) == 3 and rec["host"]["wall_s"] > 0


def test_measured_numbers_are_positive_and_finite(quick_dir):
    for name in NAMES:
        results = _load(quick_dir, name)["results"]
        if name == "profiles":  # the breakdown's remainder is a difference: it may be < 0
            results = [{k: v for k, v in h.items() if not k.startswith("breakdown")}
                       for r in results.values() for h in r["heads"].values()]
        values = list(_numbers(results))
        assert values, name
        assert all(math.isfinite(v) and v > 0 for v in values), (name, values)


def test_derived_numbers_follow_from_the_measured_ones(quick_dir):
    tr = _load(quick_dir, "training")["results"]
    batch = _load(quick_dir, "training")["params"]["batch"]
    assert tr["scc"]["images_per_s"] == pytest.approx(batch / tr["scc"]["step"]["median_s"])
    assert tr["throughput_ratio_scc_over_fc"] == pytest.approx(
        tr["scc"]["images_per_s"] / tr["fc"]["images_per_s"])
    assert tr["scc"]["params_m"] > tr["fc"]["params_m"]  # the SCC head adds parameters

    pl = _load(quick_dir, "pipeline")["results"]
    assert pl["epoch_overhead_ratio"] == pytest.approx(
        pl["epoch_s_end_to_end"] / pl["epoch_s_model_only"])
    e2e = pl["projection"]["end_to_end"]
    assert e2e["total_min"] == pytest.approx(500 * pl["epoch_s_end_to_end"] / 60)

    inf = _load(quick_dir, "inference")["results"]
    assert len(inf["latency_ratio_rounds"]) == len(inf["scc"]["rounds"])
    assert "latency_ms_bf16" not in inf["scc"]  # fp32 on a CPU unless amp says bf16
    # CUDA-only numbers are not faked on CPU: the record says why they are missing
    assert "latency_ms_graph" not in inf["scc"]
    assert inf["not_available"]["latency_ms_graph"]["available"] is False


def _check_profile_head(r: dict) -> None:
    """One profile and head of profiles.json: the derived numbers follow from the measured."""
    med = {k: v["median_s"] for k, v in r["steps"].items()}
    bpe, batch = r["batches_per_epoch"], r["config"]["batch"]
    assert r["epoch_s"]["model_only"] == pytest.approx(bpe * med["model_step"])
    assert r["epoch_s"]["end_to_end"] == pytest.approx(
        bpe * med["loop_step"] + sum(r["per_epoch_s"].values()))
    assert r["e2e_over_model"] == pytest.approx(
        r["epoch_s"]["model_only"] / r["epoch_s"]["end_to_end"])
    assert r["images_per_s"]["end_to_end"] == pytest.approx(
        bpe * batch / r["epoch_s"]["end_to_end"])
    # the breakdown adds up to the end-to-end epoch
    assert sum(r["breakdown_share_of_e2e"].values()) == pytest.approx(1.0)
    assert r["threads"] == 1 and r["data"] == "random crops"  # quick: a tiny network


def test_profiles_at_their_own_scale_follow_from_the_measured_steps(quick_dir):
    rec = _load(quick_dir, "profiles")
    assert set(rec["results"]) == {"cpu", "real300w_cpu"} == set(rec["params"]["profiles"])
    for prof in rec["results"].values():
        assert set(prof["heads"]) == {"scc", "fc"}
        for head, r in prof["heads"].items():
            assert r["config"]["head"] == head
            _check_profile_head(r)
        # the profile's ratio is its worse head's
        assert prof["e2e_over_model"] == min(h["e2e_over_model"] for h in prof["heads"].values())
        assert "workers" not in prof  # quick mode skips the spawned processes
    goals = {g["name"]: g for g in rec["goals"]}
    assert goals["e2e_over_model_cpu"]["value"] == rec["results"]["cpu"]["e2e_over_model"]
    assert goals["two_workers_over_one_cpu"]["value"] is None


@pytest.mark.slow
def test_two_one_thread_workers_against_one_two_thread_worker():
    """The spawned-process comparison of the profiles benchmark, at quick size, one round."""
    from sccnb.perf.bench import bench_profiles

    rec = bench_profiles(quick=True, profiles=("real300w_cpu",), worker_rounds=1)
    workers = rec["results"]["real300w_cpu"]["workers"]
    (row,) = workers["rounds"]
    assert len(row["two_1thread"]["cpu_utilisation"]) == 2
    assert len(row["one_2thread"]["cpu_utilisation"]) == 1
    assert workers["two_over_one"] == pytest.approx(
        workers["two_1thread_images_per_s"] / workers["one_2thread_images_per_s"])
    assert workers["two_1thread_images_per_s"] > 0 and workers["one_2thread_images_per_s"] > 0
    (goal,) = [g for g in rec["goals"] if g["name"] == "two_workers_over_one_real300w_cpu"]
    assert goal["value"] == workers["two_over_one"]


def test_goal_verdicts_agree_with_the_numbers_written(quick_dir):
    summary = json.loads((quick_dir / "summary.json").read_text())
    written = [g for n in NAMES for g in _load(quick_dir, n)["goals"]]
    assert sorted(g["name"] for g in written) == sorted(GOALS)
    assert [g["name"] for g in summary["goals"]] == [g["name"] for g in written]
    for g in written:
        assert g["threshold"] == GOALS[g["name"]].threshold
        if g["value"] is None:
            assert g["met"] is None
        else:
            better = g["value"] >= g["threshold"] if g["op"] == ">=" else (
                g["value"] <= g["threshold"])
            assert g["met"] is better, g
        # nothing measured in quick mode is a verdict
        assert g["applies"] is False and g["status"].startswith("n/a") and "quick" in g["status"]
    assert summary["goals_applicable"] == 0 and summary["all_applicable_met"] is None


def test_goal_applies_only_on_its_device_and_setting():
    goal = GOALS["train_throughput_ratio"]  # >= 0.8, GPU only
    hit = goal.record(0.9, "cuda", quick=False)
    assert hit["applies"] and hit["met"] is True and hit["status"] == "met"
    miss = goal.record(0.5, "cuda", quick=False)
    assert miss["applies"] and miss["met"] is False and miss["status"] == "NOT met"
    cpu = goal.record(0.9, "cpu", quick=False)
    assert not cpu["applies"] and cpu["met"] is True and "GPU only" in cpu["status"]
    small = goal.record(0.9, "cuda", quick=False, setting_ok=False, setting_note="batch 8")
    assert not small["applies"] and "batch 8" in small["status"]
    none = Goal("x", "d", "<=", 1.0, "ms", "any", "any").record(None, "cpu", quick=False)
    assert none["met"] is None and not none["applies"]


def test_projection_by_hand():
    # 7,500 // 64 = 117 batches of 0.5 s = 58.5 s an epoch; x 500 = 487.5 min
    p = project_wall_time(0.5, 64)
    assert p["batches_per_epoch"] == 117
    assert p["epoch_s"] == pytest.approx(58.5) and p["total_min"] == pytest.approx(487.5)
    assert project_wall_time(0.5, 64, per_epoch_s=1.5)["epoch_s"] == pytest.approx(60.0)
    with pytest.raises(ValueError):
        project_wall_time(0.0, 64)
    with pytest.raises(ValueError):
        project_wall_time(0.5, 64, images_per_epoch=10)


def test_rounds_alternate_the_order_after_warm_up():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = interleaved(fns, torch.device("cpu"), rounds=3, steps=2, warmup=1)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] + ["b", "b", "a", "a"] + ["a", "a", "b",
                                                                                  "b"]
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}


def test_single_benchmark_keeps_the_others_in_the_summary(quick_dir, tmp_path):
    for name in NAMES:  # copy the module's quick results, then re-run one benchmark only
        (tmp_path / f"{name}.json").write_text((quick_dir / f"{name}.json").read_text())
    summary = run_all(tmp_path, "cpu", quick=True, only=["synth"])
    assert set(summary["benchmarks"]) == set(NAMES)
    assert _load(tmp_path, "synth")["provenance"]["created"] >= _load(
        quick_dir, "synth")["provenance"]["created"]
    with pytest.raises(ValueError, match="unknown benchmark"):
        run_all(tmp_path, "cpu", quick=True, only=["nope"])
    assert set(BENCHMARKS) == set(NAMES)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error():
    from sccnb.perf.bench import bench_training

    with pytest.raises(ValueError, match="no CUDA device"):
        bench_training("cuda", quick=True)
