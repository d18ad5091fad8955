"""The GPU's code paths, run on every device the machine has: bf16 autocast, channels_last, the
training loop honouring the config's ``amp`` / ``channels_last``, ``torch.compile`` of the train
step, the benchmarks' numerics, and the collectives. Each test is parametrised over ``cpu`` (the
CUDA-free twin, run by the suite) and ``cuda`` (marked ``cuda``: ``make device-check`` runs it
on a GPU). What only CUDA can do (:mod:`sccnb.perf.device`) must say "not available" on a CPU."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch

import sccnb.training.evaluate
import sccnb.training.train
from sccnb.layouts import flip_permutation
from sccnb.perf.bench import bench_inference, bench_training
from sccnb.perf.bench.common import random_crops
from sccnb.perf.device import (NotAvailable, all_reduce_check, cuda_graph_forward,
                               cuda_graph_latency, device_report, peak_memory_gib,
                               reset_peak_memory)
from sccnb.perf.efficiency import stand_in_shapes, time_forward
from sccnb.training.config import resolve_config
from sccnb.training.losses import build_loss
from sccnb.training.runs import Run, build_for
from sccnb.training.train import augment_preset, build_optimizer, make_batch, train, train_step

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
LAYOUT = "wflw98"


@pytest.fixture(scope="module", autouse=True)
def _cache_and_one_thread(tmp_path_factory):
    """SynthFace and crops for this module outside the repository; one torch thread (two
    threads fighting other jobs for two cores can be many times slower)."""
    before, threads = os.environ.get("SCCNB_CACHE"), torch.get_num_threads()
    os.environ["SCCNB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if before is None:
        os.environ.pop("SCCNB_CACHE", None)
    else:
        os.environ["SCCNB_CACHE"] = before


def _smoke_model(device: torch.device, channels_last: bool = False, **changes):
    cfg = resolve_config("smoke", **changes)
    torch.manual_seed(0)
    model = build_for(cfg, shapes=stand_in_shapes(cfg.num_landmarks)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return cfg, model


def _batch(device: torch.device, channels_last: bool, seed: int = 0, size: int = 64):
    gen = torch.Generator().manual_seed(seed)
    crops = random_crops(16, size, 98, device, gen)
    flip = torch.as_tensor(flip_permutation(LAYOUT), device=device)
    return make_batch(crops, torch.arange(8), flip, augment_preset("paper"), gen, 256,
                      channels_last=channels_last)


class _ConvDtypes:
    """Records the dtype of the first convolution's output at every forward pass."""

    def __init__(self, model: torch.nn.Module) -> None:
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        self.seen: list[torch.dtype] = []
        self.handle = conv.register_forward_hook(lambda m, i, out: self.seen.append(out.dtype))


@pytest.mark.parametrize("device", DEVICES)
def test_train_step_runs_under_bf16_autocast_and_channels_last(device):
    dev = torch.device(device)
    cfg, model = _smoke_model(dev, channels_last=True)
    opt, loss_fn = build_optimizer(cfg, model), build_loss(cfg.loss, cfg.loss_epsilon)
    x, target = _batch(dev, channels_last=True)
    assert x.device.type == dev.type and x.is_contiguous(memory_format=torch.channels_last)
    assert not x.is_contiguous()  # really the other memory format
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    dtypes = _ConvDtypes(model)
    loss = train_step(model, opt, loss_fn, x, target, bf16=True)
    assert dtypes.seen == [torch.bfloat16]  # autocast was on
    assert loss.dtype == torch.float32 and torch.isfinite(loss)  # the loss is in float32
    changed = [k for k, v in model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any("backbone" in k for k in changed) and any("head" in k for k in changed)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    train_step(model, opt, loss_fn, x, target, bf16=False)
    assert dtypes.seen[-1] == torch.float32  # and off when asked


@pytest.mark.parametrize("device", DEVICES)
def test_predict_in_bf16_and_channels_last_is_close_to_fp32(device):
    """Evaluation's numerics: the memory format changes (almost) nothing, bf16 a little. The FC
    head's last layer is scaled up so that the predictions vary with the image by tens of
    pixels (at initialisation they hardly do), which makes the comparison sensitive."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(1)
    crops = random_crops(12, 64, 98, dev, gen)
    _, model = _smoke_model(dev, head="fc")
    last = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(100)
    model.eval()
    plain = sccnb.training.evaluate.predict(model, crops, dev, bf16=False, channels_last=False)
    fmt_only = sccnb.training.evaluate.predict(model, crops, dev, bf16=False, channels_last=True)
    dtypes = _ConvDtypes(model)
    half = sccnb.training.evaluate.predict(model, crops, dev, bf16=True, channels_last=True)
    assert dtypes.seen == [torch.bfloat16]
    assert half.shape == plain.shape == (12, 98, 2) and np.isfinite(half).all()
    spread = np.abs(plain - plain.mean(0)).max()  # px of the 256 frame
    assert spread > 10
    # CUDA convolutions run in TF32 by default, and the two formats pick different kernels
    assert np.abs(fmt_only - plain).max() < (1e-2 if dev.type == "cuda" else 1e-4) * spread
    assert np.abs(half - plain).max() < 0.15 * spread  # measured on a CPU: 0.04


@pytest.mark.parametrize("numerics", [("bf16", "true"), ("off", "false")])
@pytest.mark.parametrize("device", DEVICES)
def test_training_loop_honours_amp_and_channels_last(device, numerics, tmp_path, monkeypatch):
    """The loop (and its validation and test evaluation) use the config's numerics, whatever
    the device: bf16 + channels_last forced on a CPU, and both forced off on a GPU."""
    amp, channels_last = numerics
    want = amp == "bf16"
    steps, predicts = [], []
    real_step, real_predict = sccnb.training.train.train_step, sccnb.training.evaluate.predict

    def step(net, opt, loss_fn, x, target, bf16=None):
        steps.append((bf16, x.is_contiguous(memory_format=torch.channels_last) and
                      not x.is_contiguous(), x.device.type))
        return real_step(net, opt, loss_fn, x, target, bf16)

    def predict(model, crops, device, *args, **kwargs):
        predicts.append((kwargs.get("bf16"), kwargs.get("channels_last"), device.type))
        return real_predict(model, crops, device, *args, **kwargs)

    monkeypatch.setattr(sccnb.training.train, "train_step", step)
    monkeypatch.setattr(sccnb.training.train, "predict", predict)
    monkeypatch.setattr(sccnb.training.evaluate, "predict", predict)
    cfg = resolve_config("smoke", amp=amp, channels_last=channels_last, device=device,
                         epochs=1, lr_milestones=(1,))
    run = train(cfg, tmp_path)
    assert Run(run.path).complete
    assert steps and set(steps) == {(want, want, device)}
    assert len(predicts) >= 2 and set(predicts) == {(want, want, device)}  # validation + test
    assert np.isfinite(run.metrics["splits"]["test"]["summary"]["full"]["nme"])


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_compiled_train_step_matches_eager(device):
    """``torch.compile`` of the model (inductor, what ``TrainConfig.compile`` uses), stepped by
    the loop's own ``train_step``, gives the eager losses and weights, in the device's default
    numerics (bf16 + channels_last on CUDA, fp32 on a CPU). The first compile on a machine
    takes minutes on 2 cores (inductor caches it for later runs).

    Not ``backend="aot_eager"``, the quick one: it runs the eager kernels on strides predicted
    by the meta kernels, and CPU ``batch_norm`` returns a contiguous output for the transposed
    input of the graph BN (``GraphConv.forward``) where its meta kernel keeps the input's
    strides, so the traced ``view`` fails (torch 2.14; inductor computes its own strides)."""
    dev = torch.device(device)
    cfg, model = _smoke_model(dev, channels_last=dev.type == "cuda")
    eager, before = copy.deepcopy(model), copy.deepcopy(model)
    compiled = torch.compile(model)
    bf16 = cfg.uses_bf16(dev.type)
    loss_fn = build_loss(cfg.loss, cfg.loss_epsilon)
    opts = build_optimizer(cfg, model), build_optimizer(cfg, eager)
    for seed in range(2):
        x, target = _batch(dev, channels_last=dev.type == "cuda", seed=seed)
        a = train_step(compiled, opts[0], loss_fn, x, target, bf16)
        b = train_step(eager, opts[1], loss_fn, x, target, bf16)
        torch.testing.assert_close(a, b, rtol=2e-2 if bf16 else 1e-4, atol=0)
    # each parameter's update over the two steps, compiled vs eager, relative to its size:
    # reductions in another order move it by a few % (2.6 % at most measured in fp32 on a
    # CPU); a wrong gradient would move it by ~100 %
    for (name, p), q, r in zip(model.named_parameters(), eager.parameters(),
                               before.parameters()):
        update, reference = (p - r).detach().float(), (q - r).detach().float()
        gap = (update - reference).norm() / reference.norm().clamp_min(1e-12)
        assert gap < (0.3 if bf16 else 0.1), f"{name}: update differs by {gap:.1%}"


@pytest.mark.parametrize("device", DEVICES)
def test_benchmarks_run_the_config_numerics(device):
    """The benchmarks take the config's numerics: bf16 + channels_last forced on a CPU measure
    the GPU's path there; CUDA-only numbers are a number on CUDA, a reason elsewhere."""
    tr = bench_training(device, quick=True, amp="bf16", channels_last="true")
    assert tr["params"]["bf16_used"] and tr["params"]["channels_last_used"]
    assert "amp=bf16" in tr["goals"][0]["status"]  # the goals assume the default numerics
    assert all(np.isfinite(tr["results"][h]["images_per_s"]) for h in ("scc", "fc"))
    inf = bench_inference(device, quick=True, amp="bf16", channels_last="true")
    scc = inf["results"]["scc"]
    assert scc["latency_ms_bf16"] > 0 and scc["throughput_bf16"] > 0
    if device == "cuda":
        assert scc["latency_ms_bf16_graph"] > 0 and tr["results"][
            "peak_memory_gib_both_models"] > 0
        assert "not_available" not in inf["results"]
    else:
        assert "latency_ms_bf16_graph" not in scc
        missing = inf["results"]["not_available"]["latency_ms_bf16_graph"]
        assert missing["available"] is False and "CUDA" in missing["reason"]
        assert tr["results"]["not_available"]["peak_memory_gib_both_models"][
            "available"] is False
    assert time_forward(build_for(resolve_config("smoke"), shapes=stand_in_shapes(98)), 1, 64,
                        torch.device(device), repeats=1, warmup=1, bf16=True) > 0


@pytest.mark.cuda
def test_gpu_side_augmentation_matches_the_cpu():
    """The crops live on the GPU and are augmented there; the same generator state gives the
    same batch as on the CPU."""
    cpu = _batch(torch.device("cpu"), channels_last=False)
    gpu = _batch(torch.device("cuda"), channels_last=True)
    torch.testing.assert_close(gpu[1].cpu(), cpu[1], rtol=0, atol=1e-3)  # landmarks, px
    diff = (gpu[0].float().cpu() - cpu[0]).abs()  # z-scored images
    # a pixel whose sample point falls exactly on the crop's edge may round either way
    assert diff.mean() < 1e-3 and (diff > 1e-2).float().mean() < 1e-3


@pytest.mark.cuda
def test_cuda_graph_replay_memory_and_nccl_on_a_gpu():
    dev = torch.device("cuda")
    _, model = _smoke_model(dev, channels_last=True)
    model.eval()
    x = torch.randn(2, 3, 64, 64, device=dev).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        eager = model(x).float()
    replay = cuda_graph_forward(model, x, bf16=True)
    torch.testing.assert_close(replay().float(), eager, rtol=1e-2, atol=1e-2)
    x.copy_(torch.randn_like(x))  # new input, same static tensor: the graph sees it
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        eager2 = model(x).float()
    torch.testing.assert_close(replay().float(), eager2, rtol=1e-2, atol=1e-2)
    assert 0 < cuda_graph_latency(model, 1, 64, dev, repeats=5) < 1.0
    assert reset_peak_memory(dev) is None
    big = torch.empty(2**28, dtype=torch.uint8, device=dev)  # 0.25 GiB
    assert peak_memory_gib(dev) >= 0.25
    del big
    result = all_reduce_check("nccl", dev)
    assert result["value"] == result["expected"] and result["backend"] == "nccl"
    report = device_report(dev)
    assert report["cuda"]["available"] and report["cuda"]["memory_gib"] > 1


def test_gloo_all_reduce_is_the_cpu_twin_of_nccl():
    result = all_reduce_check("gloo", "cpu")
    assert result["value"] == result["expected"] == [0.0, 1.0, 2.0, 3.0]
    assert not torch.distributed.is_initialized()  # the group is torn down
    with pytest.raises(ValueError, match="supported: nccl, gloo"):
        all_reduce_check("mpi")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answers without CUDA")
def test_cuda_only_functions_say_not_available_instead_of_crashing():
    dev = torch.device("cpu")
    _, model = _smoke_model(dev)
    x = torch.randn(1, 3, 64, 64)
    answers = {"graph": cuda_graph_forward(model, x), "peak": peak_memory_gib(dev),
               "reset": reset_peak_memory(dev), "nccl": all_reduce_check("nccl"),
               "latency": cuda_graph_latency(model, 1, 64, dev, repeats=1)}
    for name, answer in answers.items():
        assert isinstance(answer, NotAvailable), name
        assert "not available on this device" in str(answer)
        assert answer.as_json()["available"] is False and answer.as_json()["reason"]
    assert "this is cpu" in answers["graph"].reason
    assert "no CUDA device" in answers["nccl"].reason  # nccl's default device is cuda
    with pytest.raises(ValueError, match="not available on this device"):
        time_forward(model, 1, 64, dev, repeats=1, cuda_graph=True)
    report = device_report("cpu")
    assert report["cuda"]["available"] is False and report["device_name"]
