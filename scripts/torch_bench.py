#!/usr/bin/env python3
"""Time in PyTorch (CPU) the four passes `lqf bench` times, for a side-by-side.

`lqf bench` (model.MeasureSpeed) times per image, in one run: the forward
pass (frozen batch norm), the linearized forward pass f0 + J dw, one NLFT
training step and one LQF training step.  This script builds the same
network in PyTorch and times the same four passes the same way (one warm-up
call, then repeated calls for at least --seconds; ms per image = elapsed /
(calls * batch)), and writes a JSON report with the keys of lqf's
SpeedReport, which `lqf bench --torch FILE` reads and prints beside its own.

  forward      model.eval(), torch.no_grad(): model(x).
  linearized   f0 + J(x) dw along a parameter direction dw over all trainable
               parameters: forward-mode AD, one pass with dual tensors
               (torch.autograd.forward_ad) for the parameters, through
               torch.nn.utils.stateless.functional_call, under no_grad; eval BN.
  NLFT step    model.train() (batch statistics), cross-entropy, backward,
               torch.optim.SGD(lr 1e-6, momentum 0.9, weight_decay 1e-4).
  LQF step     the linearized pass (eval BN) with dw as the trained leaf
               tensors, MSE to 15-scaled one-hot targets (sum over classes,
               mean over the batch, as lqf), backward to dw (reverse mode over
               the forward-mode tangents), SGD momentum on dw, same settings.

The JVP method works in torch 1.13 for conv, batch norm, ReLU, max pool,
adaptive average pool and linear; the script checks it on every run before
timing: <u, J dw> (tangent of the forward-mode pass) against <J^T u, dw>
(reverse mode), and with --onnx-fixture also the logits and J dw against the
fixture's outputs.npy and jvp.npy (PyTorch float64 references).

The network
-----------
  --arch resnet18        torchvision.models.resnet18(weights=None,
                         num_classes=10) under torch.manual_seed(--seed), input
                         3x32x32.
  --onnx-fixture DIR     a directory of scripts/onnx_fixtures.py (DIR holds
                         model.onnx and meta.json, e.g.
                         /tmp/onnx-resnet18/resnet18): the network named in
                         meta.json (resnet18 or smallcnn) with the weights and
                         batch-norm statistics of DIR/model.onnx, the very
                         file `lqf bench --backbone DIR/model.onnx` imports.

Images are uniform random in [0, 1) (the pixels do not change the timing);
labels are i mod classes as in lqf.  float32, NCHW, torch.set_num_threads.

Usage (Debian's PyTorch: /usr/bin/python3 with python3-torch,
python3-torchvision, python3-onnx, python3-numpy; no network access):

    /usr/bin/python3 scripts/torch_bench.py --onnx-fixture /tmp/onnx-resnet18/resnet18 \\
        --batch 28 --seconds 5 --threads 2 --json /tmp/torch-resnet18.json
    lqf bench --backbone /tmp/onnx-resnet18/resnet18/model.onnx --batch 28 --seconds 5 \\
        --torch /tmp/torch-resnet18.json
"""

import argparse
import copy
import json
import os
import platform
import sys
import time

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch.nn.utils import stateless

ALPHA = 15.0  # MSE target scale of LQF (model.DefaultAlpha)
LR, MOMENTUM, WEIGHT_DECAY = 1e-6, 0.9, 1e-4  # those of model.MeasureSpeed
JVP_METHOD = ("forward-mode AD: torch.autograd.forward_ad dual tensors for the parameters "
              "via torch.nn.utils.stateless.functional_call")


def fail(msg):
    print("torch_bench: " + msg, file=sys.stderr)
    sys.exit(2)


def build_arch(name, seed):
    if name != "resnet18":
        fail("--arch %r: only resnet18" % name)
    import torchvision

    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None, num_classes=10), [3, 32, 32], None


def build_fixture(d):
    """The network of an onnx_fixtures.py directory, weights from its model.onnx."""
    import numpy as np
    import onnx
    import onnx.numpy_helper

    meta_path, onnx_path = os.path.join(d, "meta.json"), os.path.join(d, "model.onnx")
    if not (os.path.isfile(meta_path) and os.path.isfile(onnx_path)):
        fail("--onnx-fixture %s: want a directory with meta.json and model.onnx "
             "(scripts/onnx_fixtures.py --out DIR writes DIR/<name>/)" % d)
    with open(meta_path) as f:
        meta = json.load(f)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import onnx_fixtures

    name = meta.get("name")
    if name not in onnx_fixtures.FIXTURES:
        fail("--onnx-fixture %s: unknown network %r" % (d, name))
    model = onnx_fixtures.FIXTURES[name]["build"]()
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(onnx_path).graph.initializer}
    state = model.state_dict()
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        if k not in inits or tuple(inits[k].shape) != tuple(v.shape):
            fail("--onnx-fixture %s: model.onnx has no initializer %s of shape %s" % (d, k, tuple(v.shape)))
        state[k] = torch.from_numpy(np.array(inits[k], dtype=np.float32))
    model.load_state_dict(state)
    return model, list(meta["input_nchw"]), (d, meta)


def check_fixture(model, d, meta):
    """Logits and J dw of the loaded network against the fixture's references."""
    import numpy as np

    x = torch.from_numpy(np.load(os.path.join(d, "inputs.npy"))).permute(0, 3, 1, 2).contiguous()
    c = x.shape[1]
    x = (x - torch.tensor(meta["mean"]).view(1, c, 1, 1)) / torch.tensor(meta["std"]).view(1, c, 1, 1)
    direction = torch.from_numpy(np.load(os.path.join(d, "direction.npy")))
    dw, off = {}, 0
    for p in meta["params"]:
        dw[p["name"]] = direction[off:off + p["size"]].view(p["shape"])
        off += p["size"]
    model.eval()
    with torch.no_grad():
        f0, t = linearized(model, dict(model.named_buffers()), params_of(model), dw, x)
    rel = lambda a, b: float((a - b).norm() / b.norm())
    return (rel(f0, torch.from_numpy(np.load(os.path.join(d, "outputs.npy")))),
            rel(t, torch.from_numpy(np.load(os.path.join(d, "jvp.npy")))))


def params_of(model):
    return {n: p.detach() for n, p in model.named_parameters()}


def linearized(model, buffers, params, dw, x):
    """(f0, J dw): one forward-mode pass with dual parameters."""
    with fwAD.dual_level():
        duals = {n: fwAD.make_dual(p, dw[n]) for n, p in params.items()}
        duals.update(buffers)
        out = stateless.functional_call(model, duals, (x,))
        f0, t = fwAD.unpack_dual(out)
    return f0, t


def check_jvp(model, buffers, params, dw, x):
    """Relative gap between <u, J dw> (forward mode) and <J^T u, dw> (reverse)."""
    model.eval()
    with torch.no_grad():
        _, t = linearized(model, buffers, params, dw, x)
    u = torch.randn_like(t)
    ps = {n: p.clone().requires_grad_() for n, p in params.items()}
    out = stateless.functional_call(model, {**ps, **buffers}, (x,))
    g = torch.autograd.grad((out * u).sum(), list(ps.values()))
    a = float((u.double() * t.double()).sum())
    b = float(sum((gi.double() * dw[n].double()).sum() for gi, n in zip(g, ps)))
    return abs(a - b) / max(abs(b), 1e-30)


def time_it(fn, batch, seconds):
    fn()  # warm-up
    start, runs = time.perf_counter(), 0
    while runs == 0 or time.perf_counter() - start < seconds:
        fn()
        runs += 1
    return (time.perf_counter() - start) * 1e3 / (runs * batch), runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--onnx-fixture", metavar="DIR", help="fixture directory of scripts/onnx_fixtures.py (meta.json, model.onnx)")
    src.add_argument("--arch", help="resnet18 (torchvision, 10 classes, 3x32x32, seeded init)")
    ap.add_argument("--batch", type=int, default=64, help="batch size (default 64, lqf bench's)")
    ap.add_argument("--seconds", type=float, default=3, help="minimum measuring time per pass (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the images, dw and --arch's init")
    ap.add_argument("--json", metavar="OUT", help="write the report here")
    a = ap.parse_args()
    if a.batch < 1 or a.seconds <= 0 or a.threads < 1:
        fail("--batch, --seconds and --threads must be positive")

    torch.set_num_threads(a.threads)
    if a.onnx_fixture:
        model, chw, fixture = build_fixture(a.onnx_fixture)
    else:
        model, chw, fixture = build_arch(a.arch, a.seed)
    model = model.float()
    classes = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].out_features

    gen = torch.Generator().manual_seed(a.seed)
    x = torch.rand([a.batch] + chw, generator=gen)
    labels = torch.arange(a.batch) % classes
    targets = ALPHA * F.one_hot(labels, classes).float()
    buffers = dict(model.named_buffers())
    params = params_of(model)
    dw0 = {n: 1e-3 * torch.randn(p.shape, generator=gen) for n, p in params.items()}

    checks = {"jvp_vs_vjp_rel_gap": check_jvp(model, buffers, params, dw0, x[:4])}
    if fixture:
        checks["logits_vs_fixture_rel_error"], checks["jvp_vs_fixture_rel_error"] = check_fixture(model, *fixture)
    if checks["jvp_vs_vjp_rel_gap"] > 1e-4 or checks.get("jvp_vs_fixture_rel_error", 0) > 1e-4 \
            or checks.get("logits_vs_fixture_rel_error", 0) > 1e-4:
        fail("the network or its JVP disagrees with its references: %s" % checks)

    # 1. forward, frozen BN.
    model.eval()

    def forward():
        with torch.no_grad():
            model(x)

    # 2. linearized forward f0 + J dw.
    def linear():
        with torch.no_grad():
            f0, t = linearized(model, buffers, params, dw0, x)
            f0 + t

    # 3. NLFT step, on a copy (train-mode BN updates its running statistics).
    nlft = copy.deepcopy(model).train()
    nlft_opt = torch.optim.SGD(nlft.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def nlft_step():
        nlft_opt.zero_grad(set_to_none=True)
        F.cross_entropy(nlft(x), labels).backward()
        nlft_opt.step()

    # 4. LQF step: dw (zero, as lqf's tangent variables start) is trained.
    dw = {n: torch.zeros_like(p, requires_grad=True) for n, p in params.items()}
    lqf_opt = torch.optim.SGD(list(dw.values()), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def lqf_step():
        lqf_opt.zero_grad(set_to_none=True)
        f0, t = linearized(model, buffers, params, dw, x)
        ((f0 + t - targets) ** 2).sum(1).mean().backward()
        lqf_opt.step()

    rep = {"backend": "pytorch-cpu", "batch": a.batch}
    ms = {}
    runs = {}
    for key, fn in [("forward_ms_per_image", forward), ("linearized_forward_ms_per_image", linear),
                    ("nlft_step_ms_per_image", nlft_step), ("lqf_step_ms_per_image", lqf_step)]:
        ms[key], runs[key] = time_it(fn, a.batch, a.seconds)
    rep.update(ms)
    if all(v.grad is None for v in dw.values()):
        fail("the LQF step left dw without gradients")
    rep["jvp_over_forward"] = ms["linearized_forward_ms_per_image"] / ms["forward_ms_per_image"]
    rep["lqf_step_over_nlft_step"] = ms["lqf_step_ms_per_image"] / ms["nlft_step_ms_per_image"]
    import torchvision

    rep.update({
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "jvp_method": JVP_METHOD,
        "network": (fixture[1]["name"] + " from " + os.path.join(fixture[0], "model.onnx")) if fixture else a.arch,
        "input_nchw": [a.batch] + chw,
        "parameters": sum(p.numel() for p in params.values()),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "seconds": a.seconds,
        "runs": runs,
        "checks": checks,
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    })
    rows = [("forward (frozen BN)", "forward_ms_per_image"), ("linearized forward f0 + J dw", "linearized_forward_ms_per_image"),
            ("NLFT step (fwd+bwd+update)", "nlft_step_ms_per_image"), ("LQF step (linearized fwd+bwd+update)", "lqf_step_ms_per_image")]
    w = max(len(r[0]) for r in rows)
    print("%-*s  ms/image" % (w, "pass"))
    print("-" * w + "  --------")
    for label, key in rows:
        print("%-*s  %.4g" % (w, label, ms[key]))
    print("jvp_over_forward %.2f, lqf_step_over_nlft_step %.2f (PyTorch %s CPU, %d threads, batch %d; JVP by forward-mode AD; "
          "checks: %s)" % (rep["jvp_over_forward"], rep["lqf_step_over_nlft_step"], torch.__version__, rep["threads"], a.batch,
                           ", ".join("%s %.1e" % kv for kv in checks.items())))
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=2)
            f.write("\n")
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
