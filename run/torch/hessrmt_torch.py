#!/usr/bin/python3
"""PyTorch interop for hessrmt: model specs as nn.Sequential, and weights
files to and from PyTorch checkpoints.

    run/torch/hessrmt_torch.py to-hessrmt CHECKPOINT.pt -o weights.h5 [--model SPEC]
    run/torch/hessrmt_torch.py to-torch weights.h5 -o model.pt [--state-dict]
    run/torch/hessrmt_torch.py spec CHECKPOINT.pt        # print the spec of a saved model

A CHECKPOINT is any of
  - a saved nn.Sequential of the layers hessrmt knows (torch.save(model)):
    Linear, Conv2d (square kernel, equal strides and zero padding on both
    axes), MaxPool2d / AvgPool2d (no padding, floor mode), Flatten, ReLU,
    Tanh, Identity; the spec is read off the layers;
  - a state_dict (or a dict holding one under 'state_dict' or
    'model_state_dict') together with --model SPEC: its tensors are taken in
    order, weight then bias for each layer with parameters, as
    model.parameters() yields them; shapes are checked against the spec;
  - the paper's LeNet or MLP classes below (PaperLeNet, PaperMLP), saved
    whole or as a state_dict with --model lenet / mnist-mlp / ...
Anything else is refused, naming the layer.

hessrmt weights files hold layers/<l>/weight in PyTorch's shape
((out, in) or (out, in, kh, kw)), layers/<l>/bias, and the model's spec
(attribute model_spec; model_bias).  to-torch writes a whole nn.Sequential
(default) or its state_dict (--state-dict).

As a module: spec_items(spec, inputs=None), build_sequential(spec,
inputs=None, bias=True), spec_of_sequential(model), read_weights(path),
write_weights(path, model, spec, bias).
"""
import argparse
import sys

import h5py
import numpy as np
import torch
from torch import nn

# beside this file, also when it is run through the installed hessrmt-torch link
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.realpath(__file__)))
import hessrmt_graph as hg  # noqa: E402

PRESETS = {
    "lenet": "input 3x32x32, conv 6 5, relu, maxpool 2, conv 16 5, relu, maxpool 2, "
             "flatten, linear 35, relu, linear 50, relu, linear 10",
    "mnist-mlp": "input 784, linear 10, relu, linear 100, relu, linear 10",
    "mnist-mlp-deep": "input 784, linear 10, relu, linear 100, relu, linear 100, "
                      "relu, linear 10",
    "bike-mlp": "input 13, linear 100, relu, linear 100, relu, linear 50, relu, linear 1",
    # the same text as src/model/spec.c's preset (a test checks N on both sides)
    "resnet-mini": (
        "input 3x32x32, "
        "conv 8 3 pad 1 nobias as conv1, batchnorm as bn1, relu as stem, "
        "conv 8 3 pad 1 nobias as layer1.0.conv1, batchnorm as layer1.0.bn1, relu, "
        "conv 8 3 pad 1 nobias as layer1.0.conv2, batchnorm as layer1.0.bn2, "
        "add stem, relu as stage1, "
        "conv 16 3 stride 2 pad 1 nobias as layer2.0.conv1, "
        "batchnorm as layer2.0.bn1, relu, "
        "conv 16 3 pad 1 nobias as layer2.0.conv2, batchnorm as layer2.0.bn2, "
        "conv 16 1 stride 2 nobias from stage1 as layer2.0.shortcut.0, "
        "batchnorm as layer2.0.shortcut.1, add layer2.0.bn2, relu as stage2, "
        "conv 32 3 stride 2 pad 1 nobias as layer3.0.conv1, "
        "batchnorm as layer3.0.bn1, relu, "
        "conv 32 3 pad 1 nobias as layer3.0.conv2, batchnorm as layer3.0.bn2, "
        "conv 32 1 stride 2 nobias from stage2 as layer3.0.shortcut.0, "
        "batchnorm as layer3.0.shortcut.1, add layer3.0.bn2, relu, "
        "gap, linear 10 as fc"),
}
SEQUENTIAL_WORDS = {"input", "linear", "conv", "maxpool", "avgpool", "flatten", "relu",
                    "tanh", "identity", "stride", "pad"}


def is_graph(spec):
    """Whether a spec needs the graph form (hessrmt_graph.GraphModel):
    anything beyond a sequential stack of the original layers."""
    import re
    words = {w for item in expand(spec).split(",") for w in item.split()}
    return any(w not in SEQUENTIAL_WORDS and not re.fullmatch(r"[0-9x]+", w) for w in words)


class SpecError(ValueError):
    pass


def expand(spec, inputs=None, outputs=None, activation="relu"):
    """The comma-separated items of any hessrmt spec."""
    name, _, shape = spec.partition(":")
    if name in PRESETS:
        items = PRESETS[name]
        if shape:
            items = f"input {shape}," + items.split(",", 1)[1]
        return items
    if spec == "logistic":
        if not inputs or not outputs:
            raise SpecError("logistic needs the inputs and outputs")
        return f"input {inputs}, linear {outputs}"
    if spec.startswith("mlp:"):
        w = [int(v) for v in spec[4:].split("-")]
        act = {"linear": "identity"}.get(activation, activation)
        parts = [f"input {w[0]}"]
        for k, v in enumerate(w[1:]):
            if k:
                parts.append(act)
            parts.append(f"linear {v}")
        return ", ".join(parts)
    return spec


def spec_items(spec, inputs=None):
    """[(kind, args dict)] and the input shape (C, H, W) of a spec."""
    items = [i.split() for i in expand(spec).split(",")]
    shape = None
    layers = []
    for k, words in enumerate(items):
        if not words:
            raise SpecError(f"item {k} of the spec is empty")
        head, rest = words[0], words[1:]
        if head == "input":
            dims = [int(v) for v in rest[0].split("x")]
            shape = tuple(dims) if len(dims) == 3 else (dims[0], 1, 1)
            continue
        opts = {}
        if head in ("conv", "maxpool", "avgpool"):
            nums = [int(v) for v in rest if v.isdigit()][: 2 if head == "conv" else 1]
            for key in ("stride", "pad"):
                if key in rest:
                    opts[key] = int(rest[rest.index(key) + 1])
            if head == "conv":
                opts.update(out=nums[0], kernel=nums[1])
            else:
                opts.update(kernel=nums[0])
        elif head == "linear":
            opts["out"] = int(rest[0])
        elif head not in ("flatten", "relu", "tanh", "identity"):
            raise SpecError(f"unknown layer '{head}' in item {k}")
        layers.append((head, opts))
    if shape is None:
        if not inputs:
            raise SpecError("the spec has no input item and no input width was given")
        shape = (inputs, 1, 1)
    return layers, shape


def build_sequential(spec, inputs=None, bias=True, dtype=torch.float64):
    """The nn.Sequential a spec describes (PyTorch's default initialisation)."""
    layers, (c, h, w) = spec_items(spec, inputs)
    mods = []
    for head, o in layers:
        if head == "linear":
            mods.append(nn.Linear(c * h * w, o["out"], bias=bias))
            c, h, w = o["out"], 1, 1
        elif head == "conv":
            k, s, p = o["kernel"], o.get("stride", 1), o.get("pad", 0)
            mods.append(nn.Conv2d(c, o["out"], k, stride=s, padding=p, bias=bias))
            c, h, w = o["out"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif head in ("maxpool", "avgpool"):
            k, s = o["kernel"], o.get("stride", o["kernel"])
            mods.append((nn.MaxPool2d if head == "maxpool" else nn.AvgPool2d)(k, s))
            h, w = (h - k) // s + 1, (w - k) // s + 1
        elif head == "flatten":
            mods.append(nn.Flatten())
            c, h, w = c * h * w, 1, 1
        else:
            mods.append({"relu": nn.ReLU, "tanh": nn.Tanh, "identity": nn.Identity}[head]())
    return nn.Sequential(*mods).to(dtype)


def _pair(v, what, name):
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise SpecError(f"layer {name}: {what} {v} differs between height "
                            "and width; hessrmt takes square kernels and equal "
                            "strides and padding")
        return v[0]
    return v


def spec_of_sequential(model, input_shape):
    """The hessrmt spec of an nn.Sequential (input_shape: (C, H, W) or D)."""
    if not isinstance(model, nn.Sequential):
        raise SpecError(f"a {type(model).__name__} is not an nn.Sequential: save "
                        "its state_dict and give --model SPEC")
    shape = "x".join(map(str, input_shape)) if isinstance(input_shape, (tuple, list)) \
        else str(input_shape)
    items = [f"input {shape}"]
    bias = None
    for name, m in model.named_children():
        kind = type(m).__name__
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            has = m.bias is not None
            if bias is not None and has != bias:
                raise SpecError(f"layer {name} ({kind}): hessrmt needs all layers "
                                "with or all without biases")
            bias = has
        if isinstance(m, nn.Linear):
            items.append(f"linear {m.out_features}")
        elif isinstance(m, nn.Conv2d):
            if m.groups != 1 or _pair(m.dilation, "dilation", name) != 1 or \
                    m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise SpecError(f"layer {name} (Conv2d): groups, dilation, "
                                "non-zero or 'same' padding are not supported")
            k = _pair(m.kernel_size, "kernel", name)
            s = _pair(m.stride, "stride", name)
            p = _pair(m.padding, "padding", name)
            items.append(f"conv {m.out_channels} {k}" + (f" stride {s}" if s != 1 else "")
                         + (f" pad {p}" if p else ""))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = _pair(m.kernel_size, "kernel", name)
            s = _pair(m.stride if m.stride is not None else m.kernel_size, "stride", name)
            if _pair(m.padding, "padding", name) or m.ceil_mode or \
                    (isinstance(m, nn.MaxPool2d) and _pair(m.dilation, "dilation", name) != 1):
                raise SpecError(f"layer {name} ({kind}): padding, ceil_mode and "
                                "dilation are not supported")
            word = "maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool"
            items.append(f"{word} {k}" + (f" stride {s}" if s != k else ""))
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise SpecError(f"layer {name} (Flatten): only start_dim=1, end_dim=-1")
            items.append("flatten")
        elif isinstance(m, (nn.ReLU, nn.Tanh, nn.Identity)):
            items.append({nn.ReLU: "relu", nn.Tanh: "tanh", nn.Identity: "identity"}[type(m)])
        else:
            raise SpecError(f"unsupported layer {name} ({kind}): hessrmt knows "
                            "Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, ReLU, "
                            "Tanh and Identity")
    return ", ".join(items), bool(bias)


def functional_forward(spec, theta, x, bias=True):
    """f(x; theta) for a spec, with theta one flat tensor in
    model.parameters() order and x (n x features): a float64 reference that
    autograd can differentiate twice (the tests' and the peer benchmark's)."""
    layers, shape = spec_items(spec)
    a = x.reshape(len(x), *shape)
    if shape[1:] == (1, 1):
        a = a.reshape(len(x), shape[0])
    off = 0

    def take(*dims):
        nonlocal off
        n = int(np.prod(dims))
        t = theta[off:off + n].reshape(dims)
        off += n
        return t

    for head, o in layers:
        if head == "linear":
            w = take(o["out"], a.shape[1])
            a = nn.functional.linear(a, w, take(o["out"]) if bias else None)
        elif head == "conv":
            k = o["kernel"]
            w = take(o["out"], a.shape[1], k, k)
            a = nn.functional.conv2d(a, w, take(o["out"]) if bias else None,
                         stride=o.get("stride", 1), padding=o.get("pad", 0))
        elif head == "maxpool":
            a = nn.functional.max_pool2d(a, o["kernel"], o.get("stride", o["kernel"]))
        elif head == "avgpool":
            a = nn.functional.avg_pool2d(a, o["kernel"], o.get("stride", o["kernel"]))
        elif head == "flatten":
            a = a.flatten(1)
        elif head == "relu":
            a = torch.relu(a)
        elif head == "tanh":
            a = torch.tanh(a)
    assert off == len(theta), (off, len(theta))
    return a


class PaperLeNet(nn.Module):
    """The paper's small LeNet (3x32x32 inputs, N = 19,217)."""

    def __init__(self, in_channels=3, side=32):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        flat = 16 * (((side - 4) // 2 - 4) // 2) ** 2
        self.fc1 = nn.Linear(flat, 35)
        self.fc2 = nn.Linear(35, 50)
        self.fc3 = nn.Linear(50, 10)

    def forward(self, x):
        f = nn.functional
        x = f.max_pool2d(f.relu(self.conv1(x)), 2)
        x = f.max_pool2d(f.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(f.relu(self.fc2(f.relu(self.fc1(x)))))


class PaperMLP(nn.Module):
    """The paper's ReLU MLPs: PaperMLP([784, 10, 100, 10]) and the like."""

    def __init__(self, widths):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))

    def forward(self, x):
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k + 1 < len(self.layers):
                x = torch.relu(x)
        return x


PAPER_CLASSES = {"PaperLeNet", "PaperMLP"}


def paper_spec(model):
    """The spec of the paper's LeNet or MLP (matched by class name, so a
    pickle made under another module path still converts)."""
    if type(model).__name__ == "PaperLeNet":
        c = model.conv1.in_channels
        side = 4 * int(round((model.fc1.in_features // 16) ** 0.5)) + 12
        return "lenet" if (c, side) == (3, 32) else f"lenet:{c}x{side}x{side}"
    widths = [model.layers[0].in_features] + [l.out_features for l in model.layers]
    return "mlp:" + "-".join(map(str, widths))


def _tensors_in_order(state):
    return [np.asarray(v.detach().cpu().double().numpy()) for v in state.values()]


def write_weights(path, params, spec, bias):
    """params: [weight, bias, weight, ...] arrays in model.parameters() order."""
    per_layer = 2 if bias else 1
    with h5py.File(path + ".partial", "w") as f:
        for l in range(len(params) // per_layer):
            g = f.create_group(f"layers/{l}")
            g["weight"] = params[l * per_layer]
            if bias:
                g["bias"] = params[l * per_layer + 1]
        f.attrs["model_spec"] = spec
        f.attrs["model_bias"] = np.int32(bias)
    import os
    os.replace(path + ".partial", path)


def read_weights(path):
    """(spec, bias, [arrays in model.parameters() order]) of a weights file."""
    with h5py.File(path, "r") as f:
        spec = f.attrs.get("model_spec")
        if spec is None:
            raise SpecError(f"'{path}' has no model_spec attribute (written by an "
                            "older hessrmt?)")
        spec = spec.decode() if isinstance(spec, bytes) else str(spec)
        bias = bool(f.attrs.get("model_bias", 1))
        params, l = [], 0
        while f"layers/{l}" in f:
            params.append(f[f"layers/{l}/weight"][...])
            if bias:
                params.append(f[f"layers/{l}/bias"][...])
            l += 1
    return spec, bias, params


def load_params(model, params):
    """Copy arrays into model.parameters(), checking every shape."""
    mine = list(model.parameters())
    if len(mine) != len(params):
        raise SpecError(f"the model has {len(mine)} parameter tensors, the file {len(params)}")
    with torch.no_grad():
        for k, (p, a) in enumerate(zip(mine, params)):
            if tuple(p.shape) != tuple(a.shape):
                raise SpecError(f"parameter {k}: shape {tuple(a.shape)}, the model "
                                f"needs {tuple(p.shape)}")
            p.copy_(torch.as_tensor(a, dtype=p.dtype))


def _input_shape_of(spec):
    _, shape = spec_items(spec)
    return shape


def to_hessrmt(checkpoint, out, spec=None, input_shape=None):
    obj = torch.load(checkpoint, map_location="cpu")
    if isinstance(obj, dict):
        state = obj.get("state_dict", obj.get("model_state_dict", obj))
        if spec is None:
            raise SpecError(f"'{checkpoint}' is a state_dict: give --model SPEC")
        model = build_sequential(spec, bias=any(k.endswith("bias") for k in state))
        params = _tensors_in_order(state)
        load_params(model, params)  # checks count and shapes against the spec
        bias = any(k.endswith("bias") for k in state)
    elif type(obj).__name__ in PAPER_CLASSES:
        spec = spec or paper_spec(obj)
        params = [p.detach().double().numpy() for p in obj.parameters()]
        bias = True
        load_params(build_sequential(spec), params)
    elif isinstance(obj, nn.Module):
        if input_shape is None and spec is None:
            raise SpecError("a saved module does not record its input "
                            "shape: give --input CxHxW (or D)")
        shape = input_shape or _input_shape_of(spec)
        try:
            spec, bias = spec_of_sequential(obj, shape)
        except SpecError:  # anything else: trace it
            dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
            if dims[1:] == (1, 1):
                dims = dims[:1]
            example = torch.randn(2, *dims, dtype=torch.float64)
            return hg.export(obj, example, out)
        params = [p.detach().double().numpy() for p in obj.parameters()]
    else:
        raise SpecError(f"'{checkpoint}' holds a {type(obj).__name__}, not a model "
                        "or a state_dict")
    write_weights(out, params, spec, bias)
    return spec


def to_torch(weights, out, state_dict=False):
    with h5py.File(weights, "r") as f:
        spec = f.attrs.get("model_spec")
        spec = spec.decode() if isinstance(spec, bytes) else str(spec)
        if spec and is_graph(spec):
            model = hg.GraphModel(expand(spec), bias=bool(f.attrs.get("model_bias", 1)))
            hg.load_graph_weights(model, f)
            torch.save(model.state_dict() if state_dict else model, out)
            return spec
    spec, bias, params = read_weights(weights)
    model = build_sequential(spec, bias=bias)
    load_params(model, params)
    torch.save(model.state_dict() if state_dict else model, out)
    return spec


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-hessrmt", help="PyTorch checkpoint -> hessrmt weights")
    a.add_argument("checkpoint")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--model", help="the spec (needed for a state_dict)")
    a.add_argument("--input", help="input shape CxHxW or D (for a saved nn.Sequential)")
    b = sub.add_parser("to-torch", help="hessrmt weights -> PyTorch model")
    b.add_argument("weights")
    b.add_argument("-o", "--output", required=True)
    b.add_argument("--state-dict", action="store_true",
                   help="save the state_dict instead of the whole nn.Sequential")
    c = sub.add_parser("spec", help="print the spec of a weights file or saved model")
    c.add_argument("file")
    c.add_argument("--input", help="input shape of a saved nn.Sequential")
    args = p.parse_args(argv)
    shape = None
    if getattr(args, "input", None):
        dims = [int(v) for v in args.input.split("x")]
        shape = tuple(dims) if len(dims) == 3 else dims[0]
    try:
        if args.cmd == "to-hessrmt":
            spec = to_hessrmt(args.checkpoint, args.output, args.model, shape)
            print(f"wrote {args.output}: {spec}")
        elif args.cmd == "to-torch":
            spec = to_torch(args.weights, args.output, args.state_dict)
            print(f"wrote {args.output}: {spec}")
        else:
            if h5py.is_hdf5(args.file):
                print(read_weights(args.file)[0])
            else:
                obj = torch.load(args.file, map_location="cpu")
                print(spec_of_sequential(obj, shape or 0)[0])
    except (SpecError, hg.ExportError, OSError, KeyError, RuntimeError) as e:
        print(f"hessrmt_torch: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
