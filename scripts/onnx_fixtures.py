#!/usr/bin/env python3
"""Export ONNX fixtures with PyTorch reference values for lqf's ONNX importer.

What the fixtures are for
-------------------------
lqf imports ONNX networks into its own layer graph (Go package
github.com/lqf-go/lqf/onnx).  `lqf check onnx` (and the package tests) load
each fixture directory written here, import `model.onnx`, and compare lqf's
imported network with the PyTorch reference arrays, each to 1e-4 relative:

  * outputs  - the logits of the network on `inputs.npy`,
  * JVP      - the Jacobian-vector product of the logits w.r.t. all trainable
               parameters along `direction.npy` (the linearisation lqf uses),
  * gradient - the gradient of one logit w.r.t. all trainable parameters.

All references are computed in float64 from the float32 weights stored in
`model.onnx` (so they are more precise than lqf's float32 arithmetic) and
saved as float32.  BatchNorm is evaluated in eval mode (frozen running
statistics) and is NOT fused into the convolutions: the ONNX file keeps its
BatchNormalization nodes, and every initializer is named after the PyTorch
parameter/buffer it holds (e.g. "conv1.weight", "bn1.running_var").

Per fixture, DIR/<name>/ holds:
  model.onnx     opset 13, input "input" [batch, C, H, W] (dynamic batch),
                 output "logits" [batch, K]; metadata_props "lqf.mean" and
                 "lqf.std" give the per-channel input normalisation.
  meta.json      shapes, normalisation, parameter table (name, shape, offset,
                 size; trainable parameters only, named_parameters order),
                 versions, seed, and how each array was computed.
  inputs.npy     float32 [N, H, W, C] (NHWC) images in [0, 1], N = 3.
  outputs.npy    float32 [N, K]  model((x_nchw - mean) / std), eval mode.
  direction.npy  float32 [P]     standard normal direction over parameters.
  jvp.npy        float32 [N, K]  d/dt f(x; w + t*direction) at t = 0.
  grad.npy       float32 [P]     d outputs[grad_sample, grad_class] / d w.

Fixtures: `smallcnn` (1x28x28, small, committed in onnx/testdata/) and
`resnet18` (torchvision resnet18, 10 classes, 3x32x32, ~45 MB of weights:
NOT committed; CI regenerates it into a temporary directory).

How to run (needs PyTorch >= 1.13, torchvision, onnx, numpy; on Debian use
the system interpreter /usr/bin/python3 with python3-torch, python3-torchvision,
python3-onnx, python3-numpy; no network access is needed, weights=None):

    python3 scripts/onnx_fixtures.py --out onnx/testdata --only smallcnn
    python3 scripts/onnx_fixtures.py --out /tmp/onnx-fixtures --only resnet18
    python3 scripts/onnx_fixtures.py --out DIR [--only all|smallcnn|resnet18] [--seed 1] [-v]

--out defaults to onnx/testdata and --only to smallcnn (resnet18 writes
~130 MB: model.onnx, direction.npy and grad.npy are ~45 MB each).  -v also
prints the ONNX op types, the initializers of the first BN nodes and the file
sizes.

The .npy files are deterministic for a given seed (and torch version).  The
script verifies the export (BatchNormalization nodes present, every
trainable parameter an initializer with identical values, opset 13, dynamic
batch axis, onnx.checker), cross-checks the JVP against a float64 central
finite difference (relative error must be < 1e-6) and the gradient against
the JVP (grad . direction == jvp[grad_sample, grad_class]); it exits non-zero
if any check fails.  It prints one line per fixture.
"""

import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
from torch.nn.utils import stateless

OPSET = 13
NUM_INPUTS = 3
FD_REL_STEP = 1e-6
FD_TOL = 1e-6
GRAD_DOT_TOL = 1e-9
ONNX_EVAL_TOL = 1e-9


class FixtureError(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise FixtureError(msg)


# --------------------------------------------------------------------------
# Networks


class SmallCNN(nn.Module):
    """1x28x28 -> 5 logits.

    conv1 (1->6, k3 s1 p1, bias) -> bn1 -> ReLU -> MaxPool(k3 s2 p1)     28 -> 14
    conv2 (6->8, k3 s2 p1, no bias) -> bn2 -> LeakyReLU(0.1)             14 -> 7
    AvgPool(k2 s2) (floor: drops the last row/column)                     7 -> 3
    Flatten (of a [C, H, W] map, CHW order) -> fc1 (72->16) -> ReLU -> fc2 (16->5)
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=3, stride=1, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(6)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(6, 8, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.act2 = nn.LeakyReLU(0.1)
        # count_include_pad=False is numerically identical here (padding=0), but
        # with the default True torch 1.13 exports Constant + Pad(all zeros) +
        # AveragePool; with False it exports a single AveragePool node.
        self.pool2 = nn.AvgPool2d(kernel_size=2, stride=2, count_include_pad=False)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(8 * 3 * 3, 16)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.act2(self.bn2(self.conv2(x))))
        x = self.flatten(x)
        return self.fc2(self.relu3(self.fc1(x)))


def build_smallcnn():
    return SmallCNN()


def build_resnet18():
    import torchvision

    return torchvision.models.resnet18(weights=None, num_classes=10)


FIXTURES = {
    "smallcnn": dict(
        build=build_smallcnn,
        input_chw=[1, 28, 28],
        mean=[0.5],
        std=[0.25],
        arch="SmallCNN: conv1(1->6,k3,s1,p1,bias) > bn1 > ReLU > MaxPool(k3,s2,p1) > "
        "conv2(6->8,k3,s2,p1,no bias) > bn2 > LeakyReLU(0.1) > AvgPool(k2,s2,count_include_pad=False; no padding, floor: 7->3) > "
        "Flatten(CHW) > fc1(72->16) > ReLU > fc2(16->5)",
    ),
    "resnet18": dict(
        build=build_resnet18,
        input_chw=[3, 32, 32],
        mean=[0.485, 0.456, 0.406],
        std=[0.229, 0.224, 0.225],
        arch="torchvision.models.resnet18(weights=None, num_classes=10), "
        "default torchvision init under torch.manual_seed(seed)",
    ),
}

# Sub-seeds (offsets from --seed) of the independent random streams.
SEED_BN, SEED_INPUTS, SEED_DIRECTION = 1, 2, 3


def randomize_bn(model, gen):
    """Non-trivial BN statistics and affine params, so wrong BN handling shows."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)


# --------------------------------------------------------------------------
# ONNX export and verification


def export_onnx(model, name, chw, mean, std, path):
    model.eval()
    dummy = torch.zeros(1, *chw, dtype=torch.float32)
    torch.onnx.export(
        model,
        (dummy,),
        path,
        export_params=True,
        opset_version=OPSET,
        training=torch.onnx.TrainingMode.PRESERVE,  # eval module, no BN fusion
        do_constant_folding=False,
        keep_initializers_as_inputs=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    m = onnx.load(path)
    onnx.helper.set_model_props(
        m,
        {
            "lqf.mean": ",".join(repr(float(v)) for v in mean),
            "lqf.std": ",".join(repr(float(v)) for v in std),
            "lqf.fixture": name,
        },
    )
    m.doc_string = "lqf ONNX fixture %s (scripts/onnx_fixtures.py)" % name
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


def verify_onnx(path, model, chw, num_classes):
    """Load the saved file and check what lqf's importer relies on."""
    m = onnx.load(path)
    onnx.checker.check_model(m)
    g = m.graph
    ops = sorted({n.op_type for n in g.node})

    opsets = {o.domain: o.version for o in m.opset_import}
    check(opsets.get("", opsets.get("ai.onnx")) == OPSET, "opset is %r, want %d" % (opsets, OPSET))

    props = {p.key: p.value for p in m.metadata_props}
    check("lqf.mean" in props and "lqf.std" in props, "metadata lqf.mean/lqf.std missing")

    inits = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    sd = model.state_dict()

    # Every trainable parameter is an initializer with the same name, shape, values.
    for pname, p in model.named_parameters():
        check(pname in inits, "trainable parameter %s is not an ONNX initializer" % pname)
        a = inits[pname]
        ref = p.detach().cpu().numpy()
        check(a.dtype == np.float32, "%s: dtype %s" % (pname, a.dtype))
        check(list(a.shape) == list(ref.shape), "%s: shape %s != %s" % (pname, a.shape, ref.shape))
        check(np.array_equal(a, ref), "%s: values differ from the PyTorch parameter" % pname)

    # BatchNormalization survived, one per BatchNorm2d, fed by named initializers.
    bn_mods = [(n, mod) for n, mod in model.named_modules() if isinstance(mod, nn.BatchNorm2d)]
    bn_nodes = [n for n in g.node if n.op_type == "BatchNormalization"]
    check(len(bn_nodes) > 0, "no BatchNormalization nodes: BN was fused/folded")
    check(len(bn_nodes) == len(bn_mods), "%d BN nodes for %d BatchNorm2d modules" % (len(bn_nodes), len(bn_mods)))
    bn_inputs = []
    for node in bn_nodes:
        ins = list(node.input[1:5])
        bn_inputs.append(ins)
        for i in ins:
            check(i in inits, "BN node %s input %s is not an initializer" % (node.name, i))
            if i in sd:
                check(np.array_equal(inits[i], sd[i].cpu().numpy()), "%s: values differ" % i)
    expected = sorted(
        [[f"{n}.weight", f"{n}.bias", f"{n}.running_mean", f"{n}.running_var"] for n, _ in bn_mods]
    )
    check(sorted(bn_inputs) == expected, "BN node inputs are not the PyTorch names: %r" % bn_inputs)
    for node in bn_nodes:
        for att in node.attribute:
            if att.name == "training_mode":
                check(att.i == 0, "BN node %s exported in training mode" % node.name)
    check(all(len(n.output) == 1 for n in bn_nodes), "BN nodes have training outputs")

    # Input [batch, C, H, W] with a symbolic batch; output [batch, K].
    init_names = set(inits)
    gin = [i for i in g.input if i.name not in init_names]
    check(len(gin) == 1 and gin[0].name == "input", "graph inputs: %r" % [i.name for i in gin])
    dims = gin[0].type.tensor_type.shape.dim
    check(len(dims) == 4 and dims[0].dim_param != "", "input batch axis is not dynamic")
    check([d.dim_value for d in dims[1:]] == list(chw), "input C,H,W != %r" % (chw,))
    odims = g.output[0].type.tensor_type.shape.dim
    check(len(odims) == 2 and odims[1].dim_value == num_classes, "output shape is not [batch, %d]" % num_classes)

    extra = sorted(n for n in inits if n not in sd)
    return dict(ops=ops, bn_inputs=bn_inputs, extra_initializers=extra, num_initializers=len(inits))


# --------------------------------------------------------------------------
# Independent float64 numpy evaluation of the exported ONNX graph (no torch):
# checks that the file itself means what the PyTorch module computes.


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _windows(x, kh, kw, sh, sw, dh=1, dw=1):
    # x [N, C, H, W] (already padded) -> [N, C, Ho, Wo, kh, kw]
    from numpy.lib.stride_tricks import sliding_window_view

    v = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw]


def _pad(x, pads, value):
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def eval_onnx_numpy(m, x):
    g = m.graph
    env = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    env[g.input[0].name] = x
    for n in g.node:
        a = _attrs(n)
        ins = [env[i] if i else None for i in n.input]
        op = n.op_type
        if op == "Conv":
            X, Wt = ins[0], ins[1]
            check(a.get("group", 1) == 1 and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"),
                  "numpy eval: unsupported Conv attrs %r" % a)
            kh, kw = a.get("kernel_shape", Wt.shape[2:])
            sh, sw = a.get("strides", [1, 1])
            dh, dw = a.get("dilations", [1, 1])
            v = _windows(_pad(X, a.get("pads", [0, 0, 0, 0]), 0.0), kh, kw, sh, sw, dh, dw)
            y = np.einsum("nchwij,ocij->nohw", v, Wt, optimize=True)
            if len(ins) > 2 and ins[2] is not None:
                y = y + ins[2].reshape(1, -1, 1, 1)
        elif op == "BatchNormalization":
            X, sc, b, mu, var = ins
            eps = a.get("epsilon", 1e-5)
            sh4 = (1, -1, 1, 1)
            y = (X - mu.reshape(sh4)) / np.sqrt(var.reshape(sh4) + eps) * sc.reshape(sh4) + b.reshape(sh4)
        elif op == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif op == "LeakyRelu":
            y = np.where(ins[0] >= 0, ins[0], a.get("alpha", 0.01) * ins[0])
        elif op in ("MaxPool", "AveragePool"):
            check(a.get("ceil_mode", 0) == 0, "numpy eval: ceil_mode")
            kh, kw = a["kernel_shape"]
            sh, sw = a.get("strides", [1, 1])
            pads = a.get("pads", [0, 0, 0, 0])
            if op == "MaxPool":
                y = _windows(_pad(ins[0], pads, -np.inf), kh, kw, sh, sw).max(axis=(4, 5))
            else:
                check(not any(pads), "numpy eval: padded AveragePool")
                y = _windows(ins[0], kh, kw, sh, sw).mean(axis=(4, 5))
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "Add":
            y = ins[0] + ins[1]
        else:
            raise FixtureError("numpy eval: unsupported op %s" % op)
        env[n.output[0]] = y
    return env[g.output[0].name]


# --------------------------------------------------------------------------
# References


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def relerr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def make_fixture(name, out_dir, seed, verbose):
    cfg = FIXTURES[name]
    chw = cfg["input_chw"]
    mean, std = cfg["mean"], cfg["std"]
    t0 = time.time()

    torch.manual_seed(seed)
    model = cfg["build"]()
    randomize_bn(model, torch.Generator().manual_seed(seed + SEED_BN))
    model.eval()

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    onnx_path = os.path.join(d, "model.onnx")
    export_onnx(copy.deepcopy(model), name, chw, mean, std, onnx_path)

    # Parameter table: trainable parameters only, named_parameters order.
    names, params_tab, offset = [], [], 0
    for pname, p in model.named_parameters():
        names.append(pname)
        params_tab.append(dict(name=pname, shape=list(p.shape), offset=offset, size=p.numel()))
        offset += p.numel()
    P = offset

    # Inputs: NHWC float32 in [0, 1].
    C, H, W = chw
    inputs = torch.rand(NUM_INPUTS, H, W, C, generator=torch.Generator().manual_seed(seed + SEED_INPUTS),
                        dtype=torch.float32).numpy()
    direction = torch.randn(P, generator=torch.Generator().manual_seed(seed + SEED_DIRECTION),
                            dtype=torch.float32).numpy()

    # float64 model built from the float32 weights (exact conversion).
    md = copy.deepcopy(model).double().eval()
    x = torch.from_numpy(inputs).double().permute(0, 3, 1, 2).contiguous()
    mean_t = torch.tensor(mean, dtype=torch.float64).view(1, C, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float64).view(1, C, 1, 1)
    xn = (x - mean_t) / std_t

    w0 = tuple(p.detach().clone() for p in md.parameters())
    dirs, o = [], 0
    dir64 = torch.from_numpy(direction).double()
    for pt in params_tab:
        dirs.append(dir64[o:o + pt["size"]].view(pt["shape"]))
        o += pt["size"]
    dirs = tuple(dirs)

    def f(*ws):
        return stateless.functional_call(md, dict(zip(names, ws)), (xn,))

    with torch.no_grad():
        outputs = f(*w0)
    K = outputs.shape[1]

    _, jvp = torch.autograd.functional.jvp(f, w0, dirs)
    jvp = jvp.detach()

    # Central finite difference in float64, step relative to the weight norm.
    wnorm = float(flat(w0).norm())
    dnorm = float(dir64.norm())
    h = FD_REL_STEP * wnorm / dnorm
    with torch.no_grad():
        fp = f(*[w + h * v for w, v in zip(w0, dirs)])
        fm = f(*[w - h * v for w, v in zip(w0, dirs)])
    fd = (fp - fm) / (2 * h)
    fd_err = relerr(fd.numpy(), jvp.numpy())

    # Gradient of one logit.
    grad_sample = 0
    grad_class = int(outputs[grad_sample].argmax())
    wg = tuple(w.clone().requires_grad_(True) for w in w0)
    out = f(*wg)
    grads = torch.autograd.grad(out[grad_sample, grad_class], wg)
    grad = flat(grads).detach()
    gd = float(grad @ dir64)
    gd_ref = float(jvp[grad_sample, grad_class])
    gd_err = abs(gd - gd_ref) / max(abs(gd_ref), 1e-300)

    # Informational: how far a plain float32 PyTorch forward is from the reference.
    with torch.no_grad():
        out32 = model(xn.float()).double()
    f32_err = relerr(out32.numpy(), outputs.numpy())

    info = verify_onnx(onnx_path, model, chw, K)
    onnx_err = relerr(eval_onnx_numpy(onnx.load(onnx_path), xn.numpy()), outputs.numpy())

    outputs_np = outputs.numpy().astype(np.float32)
    jvp_np = jvp.numpy().astype(np.float32)
    grad_np = grad.numpy().astype(np.float32)
    for a in (outputs_np, jvp_np, grad_np):
        check(np.all(np.isfinite(a)), "non-finite reference values")
    check(np.linalg.norm(grad_np) > 0, "zero gradient")

    np.save(os.path.join(d, "inputs.npy"), np.ascontiguousarray(inputs, dtype=np.float32))
    np.save(os.path.join(d, "outputs.npy"), outputs_np)
    np.save(os.path.join(d, "direction.npy"), np.ascontiguousarray(direction, dtype=np.float32))
    np.save(os.path.join(d, "jvp.npy"), jvp_np)
    np.save(os.path.join(d, "grad.npy"), grad_np)

    meta = {
        "name": name,
        "architecture": cfg["arch"],
        "input_nchw": chw,
        "mean": mean,
        "std": std,
        "num_inputs": NUM_INPUTS,
        "classes": int(K),
        "grad_class": grad_class,
        "grad_sample": grad_sample,
        "num_params": P,
        "params": params_tab,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "numpy_version": np.__version__,
        "opset": OPSET,
        "seed": seed,
        "onnx_op_types": info["ops"],
        "checks": {
            "fd_rel_err": fd_err,
            "fd_rel_step": FD_REL_STEP,
            "grad_dot_direction_vs_jvp_rel_err": gd_err,
            "float32_torch_forward_rel_err": f32_err,
            "onnx_numpy_eval_vs_outputs_rel_err": onnx_err,
        },
        "computation": {
            "model": "torch.manual_seed(seed), then the network's default init; every BatchNorm2d gets "
                     "running_mean ~ N(0, 0.1^2), running_var ~ U(0.5, 2), weight ~ U(0.5, 1.5), "
                     "bias ~ N(0, 0.1^2) from torch.Generator().manual_seed(seed+1); eps 1e-5.",
            "model.onnx": "torch.onnx.export of the float32 module in eval mode with "
                          "training=TrainingMode.PRESERVE and do_constant_folding=False (BN not fused), "
                          "opset 13, input 'input' [batch,C,H,W], output 'logits' [batch,K]. Initializers are "
                          "named after the PyTorch parameters/buffers. Conv weights are [O,I,kh,kw]; Linear "
                          "weights are Gemm B [out,in] with transB=1; the Flatten before a Linear flattens "
                          "a [C,H,W] map in CHW order. The network expects normalised input "
                          "(x - mean[c]) / std[c] (metadata_props lqf.mean, lqf.std); normalisation is not "
                          "part of the graph.",
            "inputs.npy": "float32 [N,H,W,C] (NHWC) uniform in [0,1): torch.rand with "
                          "torch.Generator().manual_seed(seed+2).",
            "outputs.npy": "float32 [N,K] logits model((x_nchw - mean)/std) with x_nchw = inputs transposed to "
                           "NCHW, eval mode (frozen BN statistics), computed in float64 (model.double() of the "
                           "float32 weights), saved as float32.",
            "direction.npy": "float32 [P] standard normal, torch.randn with torch.Generator().manual_seed(seed+3); "
                             "the concatenation, in params order, of per-parameter directions, each flattened "
                             "row-major in PyTorch/ONNX layout.",
            "jvp.npy": "float32 [N,K] d/dt f(x; w + t*direction) at t=0 over the trainable parameters (eval-mode "
                       "BN, frozen statistics), float64, torch.autograd.functional.jvp of "
                       "torch.nn.utils.stateless.functional_call; cross-checked with a float64 central finite "
                       "difference of step h = fd_rel_step * |w| / |direction| (checks.fd_rel_err, "
                       "relative 2-norm error).",
            "grad.npy": "float32 [P] gradient of outputs[grad_sample, grad_class] w.r.t. the trainable parameters "
                        "in params order (flattened row-major), float64 (torch.autograd.grad); grad_class is the "
                        "argmax of outputs[grad_sample]; cross-checked: grad . direction == jvp[grad_sample, "
                        "grad_class].",
        },
    }
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")

    check(fd_err < FD_TOL, "%s: JVP vs finite difference relative error %.3e >= %g" % (name, fd_err, FD_TOL))
    check(gd_err < GRAD_DOT_TOL, "%s: grad.direction vs jvp relative error %.3e" % (name, gd_err))
    check(onnx_err < ONNX_EVAL_TOL, "%s: numpy evaluation of model.onnx vs outputs relative error %.3e"
          % (name, onnx_err))

    sizes = {fn: os.path.getsize(os.path.join(d, fn)) for fn in sorted(os.listdir(d))}
    dt = time.time() - t0
    print("%s: P=%d K=%d model.onnx=%d B total=%d B fd_rel_err=%.3e grad_dot_rel_err=%.3e "
          "onnx_eval_rel_err=%.3e f32_fwd_rel_err=%.3e bn_nodes=%d time=%.1fs -> %s"
          % (name, P, K, sizes["model.onnx"], sum(sizes.values()), fd_err, gd_err, onnx_err, f32_err,
             len(info["bn_inputs"]), dt, d), flush=True)
    if verbose:
        print("  ops: %s" % ", ".join(info["ops"]))
        for ins in info["bn_inputs"][:3]:
            print("  BN initializers: %s" % ", ".join(ins))
        print("  non-parameter initializers: %s" % (info["extra_initializers"] or "none"))
        for fn, s in sizes.items():
            print("  %-14s %10d B" % (fn, s))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="onnx/testdata", help="output directory (default onnx/testdata)")
    ap.add_argument("--only", default="smallcnn", choices=["all"] + sorted(FIXTURES),
                    help="fixture(s) to write (default smallcnn; resnet18 is ~130 MB, do not commit it)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-v", "--verbose", action="store_true", help="print op types, BN initializers, file sizes")
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    names = list(FIXTURES) if args.only == "all" else [args.only]
    ok = True
    for name in names:
        try:
            make_fixture(name, args.out, args.seed, args.verbose)
        except FixtureError as e:
            print("%s: FAILED: %s" % (name, e), file=sys.stderr, flush=True)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
