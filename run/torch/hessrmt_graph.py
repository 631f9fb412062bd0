"""hessrmt's graph models on the PyTorch side: the text form of a graph
parsed into nodes, an nn.Module built from it (GraphModel, for to-torch
and references), and export(module, example_input, path), which traces a
user's own nn.Module with torch.fx and writes a hessrmt weights file that
`hessrmt hessian --weights` runs with no --model.

The text form (docs/models.md): comma-separated items, each an operation
with its arguments, then optionally `nobias`, `from NAME` (read that value
instead of the previous item's; `input` is the input) and `as NAME` (name
this value).  `add NAME` adds the named value to the one it reads.  A node
with parameters is named by its PyTorch module path, so its tensors are
NAME.weight and NAME.bias.

Weights files hold, per node with parameters in the order of the spec (=
model.parameters() order), layers/<l>/weight and layers/<l>/bias (when it
has one), and per BatchNorm node batchnorm/<b>/running_mean and
running_var; attributes model_spec and model_bias.
"""
import operator
import os

import h5py
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"relu": None, "tanh": None, "identity": None, "gelu": None, "silu": None,
               "sigmoid": None, "softplus": None, "elu": 1.0, "leaky_relu": 0.01}
EPS = 1e-5


class ExportError(ValueError):
    """A module, operation or spec hessrmt cannot take (the message says why)."""


# ---- the text form ----------------------------------------------------------

def parse_graph(items_text):
    """(input shape (C, H, W), [node dicts]) of the items of a spec (presets
    expanded by the caller).  A node: op, args (dict), src (value indices:
    0 = input, i + 1 = node i), name, bias (linear/conv)."""
    nodes, names, shape = [], {"input": 0}, None
    for k, item in enumerate(x.strip() for x in items_text.split(",")):
        words = item.split()
        if not words:
            raise ExportError(f"item {k} of the spec is empty")
        mods = {"nobias": False, "from": None, "as": None}
        rest = []
        i = 1
        while i < len(words):
            if words[i] == "nobias":
                mods["nobias"] = True
            elif words[i] in ("from", "as") and i + 1 < len(words):
                mods[words[i]] = words[i + 1]
                i += 1
            else:
                rest.append(words[i])
            i += 1
        op = words[0]
        if op == "input":
            dims = [int(v) for v in rest[0].split("x")]
            shape = tuple(dims) if len(dims) == 3 else (dims[0], 1, 1)
            continue
        args = {}
        if op in ("conv", "maxpool", "avgpool"):
            nums = []
            j = 0
            while j < len(rest):
                if rest[j] in ("stride", "pad"):
                    args[rest[j]] = int(rest[j + 1])
                    j += 2
                else:
                    nums.append(int(rest[j]))
                    j += 1
            if op == "conv":
                args.update(out=nums[0], kernel=nums[1])
            else:
                args.update(kernel=nums[0])
            args.setdefault("stride", 1 if op == "conv" else args["kernel"])
            args.setdefault("pad", 0)
        elif op == "linear":
            args["out"] = int(rest[0])
        elif op == "add":
            args["other"] = rest[0]
        elif op == "mul":
            args["alpha"] = float(rest[0])
        elif op in ("batchnorm", "layernorm"):
            args["eps"] = float(rest[rest.index("eps") + 1]) if "eps" in rest else EPS
            args["affine"] = "noaffine" not in rest
        elif op in ACTIVATIONS or op == "dropout":
            if op == "dropout":
                op = "identity"
            elif ACTIVATIONS[op] is not None:
                args["alpha"] = float(rest[0]) if rest else ACTIVATIONS[op]
        elif op not in ("flatten", "gap"):
            raise ExportError(f"unknown operation '{op}' in item {k}")
        src = [names[mods["from"]] if mods["from"] else len(nodes)]
        if op == "add":
            src.append(names[args["other"]])
        node = {"op": op, "args": args, "src": src, "name": mods["as"],
                "bias": not mods["nobias"]}
        nodes.append(node)
        if mods["as"]:
            names[mods["as"]] = len(nodes)
    if shape is None:
        raise ExportError("the spec has no input item")
    return shape, nodes


def _shapes(shape, nodes):
    """The (C, H, W) of every value."""
    out = [shape]
    for n in nodes:
        c, h, w = out[n["src"][0]]
        a, op = n["args"], n["op"]
        if op == "linear":
            s = (a["out"], 1, 1)
        elif op in ("conv", "maxpool", "avgpool"):
            k, st, p = a["kernel"], a["stride"], a["pad"]
            s = (a["out"] if op == "conv" else c, (h + 2 * p - k) // st + 1,
                 (w + 2 * p - k) // st + 1)
        elif op in ("gap",):
            s = (c, 1, 1)
        elif op == "flatten":
            s = (c * h * w, 1, 1)
        else:
            s = (c, h, w)
        out.append(s)
    return out


class GraphModel(nn.Module):
    """The PyTorch module of a hessrmt graph spec (float64, PyTorch's
    default initialisation, BatchNorm in eval mode).  Nodes with parameters
    are submodules at their names (nested at the dots), so
    named_parameters() gives the names hessrmt's blocks use."""

    def __init__(self, items_text, bias=True):
        super().__init__()
        self.in_shape, self.nodes = parse_graph(items_text)
        shapes = _shapes(self.in_shape, self.nodes)
        self._mods = []
        for i, n in enumerate(self.nodes):
            c, h, w = shapes[n["src"][0]]
            flat = (h, w) == (1, 1)
            a, op = n["args"], n["op"]
            mod = None
            if op == "linear":
                mod = nn.Linear(c * h * w, a["out"], bias=bias and n["bias"])
            elif op == "conv":
                mod = nn.Conv2d(c, a["out"], a["kernel"], stride=a["stride"],
                                padding=a["pad"], bias=bias and n["bias"])
            elif op == "batchnorm":
                mod = (nn.BatchNorm1d if flat else nn.BatchNorm2d)(
                    c, eps=a["eps"], affine=a["affine"])
            elif op == "layernorm":
                mod = nn.LayerNorm(c if flat else w, eps=a["eps"],
                                   elementwise_affine=a["affine"])
            if mod is not None:
                self._attach(n["name"] or f"node{i}", mod)
            self._mods.append(mod)
        self.double().eval()

    def _attach(self, name, mod):
        parts = name.split(".")
        parent = self
        for p in parts[:-1]:
            if not hasattr(parent, p) or not isinstance(getattr(parent, p), nn.Module):
                parent.add_module(p, nn.Module())
            parent = getattr(parent, p)
        parent.add_module(parts[-1], mod)

    def forward(self, x):
        c, h, w = self.in_shape
        v = [x.reshape(-1, c) if (h, w) == (1, 1) else x.reshape(-1, c, h, w)]
        for n, mod in zip(self.nodes, self._mods):
            a, op, t = n["args"], n["op"], v[n["src"][0]]
            if mod is not None:
                y = mod(t)
            elif op in ("maxpool", "avgpool"):
                f = F.max_pool2d if op == "maxpool" else F.avg_pool2d
                y = f(t, a["kernel"], a["stride"], a["pad"])
            elif op == "gap":
                y = F.adaptive_avg_pool2d(t, 1).flatten(1)
            elif op == "flatten":
                y = t.flatten(1)
            elif op == "add":
                y = t + v[n["src"][1]]
            elif op == "mul":
                y = a["alpha"] * t
            else:
                y = activation(op, t, a.get("alpha"))
            v.append(y)
        return v[-1]


def activation(op, t, alpha=None):
    return {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda z: z,
            "gelu": F.gelu, "silu": F.silu, "sigmoid": torch.sigmoid,
            "softplus": F.softplus,
            "elu": lambda z: F.elu(z, alpha),
            "leaky_relu": lambda z: F.leaky_relu(z, alpha)}[op](t)


def param_nodes(model):
    """The modules with parameters of a GraphModel, in node order."""
    return [m for m in model._mods if m is not None and any(True for _ in m.parameters())]


def batchnorms(model):
    return [m for m in model._mods if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]


# ---- weights files ------------------------------------------------------------

def write_graph_weights(path, layers, stats, spec):
    """layers: [(weight, bias or None)] in node order; stats: [(mean, var)]
    of the BatchNorm nodes.  Written as path.partial, then renamed."""
    with h5py.File(path + ".partial", "w") as f:
        for l, (w, b) in enumerate(layers):
            g = f.create_group(f"layers/{l}")
            g["weight"] = np.asarray(w, dtype=np.float64)
            if b is not None:
                g["bias"] = np.asarray(b, dtype=np.float64)
        for k, (mean, var) in enumerate(stats):
            g = f.create_group(f"batchnorm/{k}")
            g["running_mean"] = np.asarray(mean, dtype=np.float64)
            g["running_var"] = np.asarray(var, dtype=np.float64)
        f.attrs["model_spec"] = spec
        f.attrs["model_bias"] = np.int32(1)
    os.replace(path + ".partial", path)


def load_graph_weights(model, f):
    """Copy an open weights file's tensors into a GraphModel."""
    with torch.no_grad():
        for l, mod in enumerate(param_nodes(model)):
            tensors = [mod.weight] + ([mod.bias] if mod.bias is not None else [])
            for key, p in zip(("weight", "bias"), tensors):
                a = f[f"layers/{l}/{key}"][...]
                if tuple(a.shape) != tuple(p.shape):
                    raise ExportError(f"layers/{l}/{key}: shape {a.shape}, the "
                                      f"model needs {tuple(p.shape)}")
                p.copy_(torch.as_tensor(a))
        for k, bn in enumerate(batchnorms(model)):
            if f"batchnorm/{k}" in f:
                bn.running_mean.copy_(torch.as_tensor(f[f"batchnorm/{k}/running_mean"][...]))
                bn.running_var.copy_(torch.as_tensor(f[f"batchnorm/{k}/running_var"][...]))


# ---- export: a traced nn.Module to a graph -------------------------------------

def _pair(v, what, where):
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ExportError(f"{where}: {what} {tuple(v)} differs between height "
                              "and width; hessrmt takes square kernels and equal "
                              "strides and padding")
        return v[0]
    return v


def _num(v):
    return f"{v:.17g}"


_ACT_FUNCS = {torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh",
              torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", F.gelu: "gelu",
              F.silu: "silu", F.softplus: "softplus", F.elu: "elu",
              F.leaky_relu: "leaky_relu", F.dropout: "identity"}
_ACT_METHODS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}
_SHAPE_ONLY = {"size", "dim", "numel"}


def _module_item(mod, path, shape):
    """The item (without modifiers) of a leaf module, and whether it has
    parameters; refusals name the module."""
    where = f"module '{path}' ({type(mod).__name__})"
    if isinstance(mod, nn.Linear):
        if len(shape) != 2:
            raise ExportError(f"{where}: hessrmt applies Linear to vectors (its "
                              f"input here has shape {tuple(shape)})")
        return f"linear {mod.out_features}", True
    if isinstance(mod, nn.Conv2d):
        if mod.groups != 1 or _pair(mod.dilation, "dilation", where) != 1 or \
                mod.padding_mode != "zeros" or isinstance(mod.padding, str):
            raise ExportError(f"{where}: groups, dilation, non-zero or 'same' "
                              "padding are not supported")
        k, s, p = (_pair(mod.kernel_size, "kernel", where), _pair(mod.stride, "stride", where),
                   _pair(mod.padding, "padding", where))
        return (f"conv {mod.out_channels} {k}" + (f" stride {s}" if s != 1 else "")
                + (f" pad {p}" if p else "")), True
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if mod.training:
            raise ExportError(f"{where} is in training mode, where BatchNorm "
                              "normalises with the batch's own statistics and so "
                              "couples the samples of a batch; hessrmt (like "
                              "PyHessian, curvlinops and BackPACK) takes the "
                              "Hessian in eval mode: call model.eval() before export")
        if not mod.track_running_stats or mod.running_mean is None:
            raise ExportError(f"{where}: track_running_stats=False uses batch "
                              "statistics even in eval mode; hessrmt needs running ones")
        if isinstance(mod, nn.BatchNorm1d) and len(shape) != 2:
            raise ExportError(f"{where}: BatchNorm1d on {tuple(shape)}: hessrmt "
                              "takes it on vectors (N, C)")
        return ("batchnorm" + (f" eps {_num(mod.eps)}" if mod.eps != EPS else "")
                + ("" if mod.affine else " noaffine")), mod.affine
    if isinstance(mod, nn.LayerNorm):
        if len(mod.normalized_shape) != 1 or mod.normalized_shape[0] != shape[-1] or \
                len(shape) not in (2, 4):
            raise ExportError(f"{where}: hessrmt normalises over the last "
                              f"dimension only (normalized_shape {mod.normalized_shape}, "
                              f"input {tuple(shape)})")
        return ("layernorm" + (f" eps {_num(mod.eps)}" if mod.eps != EPS else "")
                + ("" if mod.elementwise_affine else " noaffine")), mod.elementwise_affine
    if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(mod.kernel_size, "kernel", where)
        s = _pair(mod.stride if mod.stride is not None else mod.kernel_size, "stride", where)
        p = _pair(mod.padding, "padding", where)
        if mod.ceil_mode or (isinstance(mod, nn.MaxPool2d) and _pair(mod.dilation, "dilation", where) != 1) \
                or (isinstance(mod, nn.AvgPool2d) and (not mod.count_include_pad or mod.divisor_override)):
            raise ExportError(f"{where}: ceil_mode, dilation, count_include_pad=False "
                              "and divisor_override are not supported")
        word = "maxpool" if isinstance(mod, nn.MaxPool2d) else "avgpool"
        return f"{word} {k}" + (f" stride {s}" if s != k else "") + (f" pad {p}" if p else ""), False
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        if _pair(mod.output_size, "output_size", where) != 1:
            raise ExportError(f"{where}: only adaptive pooling to 1x1 (global average)")
        return "gap", False
    if isinstance(mod, nn.Flatten):
        if mod.start_dim != 1 or mod.end_dim != -1:
            raise ExportError(f"{where}: only start_dim=1, end_dim=-1")
        return "flatten", False
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Identity: "identity", nn.SiLU: "silu",
              nn.Sigmoid: "sigmoid", nn.Dropout: "identity", nn.Dropout2d: "identity"}
    if type(mod) in simple:
        return simple[type(mod)], False
    if isinstance(mod, nn.GELU):
        if getattr(mod, "approximate", "none") != "none":
            raise ExportError(f"{where}: only the erf form (approximate='none')")
        return "gelu", False
    if isinstance(mod, nn.Softplus):
        if mod.beta != 1 or mod.threshold != 20:
            raise ExportError(f"{where}: only beta=1, threshold=20")
        return "softplus", False
    if isinstance(mod, nn.ELU):
        return "elu" + ("" if mod.alpha == 1.0 else f" {_num(mod.alpha)}"), False
    if isinstance(mod, nn.LeakyReLU):
        return "leaky_relu" + ("" if mod.negative_slope == 0.01 else f" {_num(mod.negative_slope)}"), False
    raise ExportError(f"{where}: unsupported operation (hessrmt takes Linear, Conv2d, "
                      "BatchNorm1d/2d (eval), LayerNorm, MaxPool2d, AvgPool2d, "
                      "AdaptiveAvgPool2d(1), Flatten, ReLU, Tanh, GELU, SiLU, Sigmoid, "
                      "Softplus, ELU, LeakyReLU, Identity, Dropout); nothing was written")


def _scalar(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _function_item(node, tensor, where):
    """(item, tensor inputs) of a call_function / call_method node, or None
    for an alias of its input (contiguous, a view that keeps the shape)."""
    t, args, kw = node.target, node.args, node.kwargs
    shape_in = lambda a: tuple(a.meta["tensor_meta"].shape)
    out = tuple(node.meta["tensor_meta"].shape)
    if node.op == "call_method":
        name = t
        x = args[0]
        if name in _ACT_METHODS:
            return _ACT_METHODS[name], [x]
        if name == "contiguous" or (name in ("view", "reshape") and shape_in(x) == out):
            return None, [x]
        if name in ("view", "reshape", "flatten"):
            s = shape_in(x)
            if out == (s[0], int(np.prod(s[1:]))):
                return "flatten", [x]
            raise ExportError(f"{where}: {name} to {out} is not a flatten of {s}")
        if name in ("add", "mul"):
            t = {"add": operator.add, "mul": operator.mul}[name]
        else:
            raise ExportError(f"{where}: the method '{name}' is not supported; "
                              "nothing was written")
    if t in (operator.add, torch.add) and len(args) == 2 and not kw:
        a, b = args
        if all(isinstance(v, torch.fx.Node) and v in tensor for v in (a, b)):
            if shape_in(a) != shape_in(b):
                raise ExportError(f"{where}: adds {shape_in(b)} to {shape_in(a)} "
                                  "(hessrmt adds values of equal shapes)")
            return "add", [a, b]
    if t in (operator.mul, torch.mul, operator.truediv) and len(args) == 2 and not kw:
        a, b = args
        if t is not operator.truediv and _scalar(a):
            a, b = b, a
        if isinstance(a, torch.fx.Node) and a in tensor and _scalar(b):
            alpha = 1.0 / b if t is operator.truediv else float(b)
            return f"mul {_num(alpha)}", [a]
    if t is torch.flatten:
        start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
        if start == 1 and (len(args) < 3 and kw.get("end_dim", -1) == -1):
            return "flatten", [args[0]]
    if t in _ACT_FUNCS:
        word = _ACT_FUNCS[t]
        x = args[0]
        if word == "gelu" and kw.get("approximate", "none") != "none":
            raise ExportError(f"{where}: only the erf form of gelu")
        if word == "softplus" and (args[1:] or kw):
            raise ExportError(f"{where}: only softplus(beta=1, threshold=20)")
        if word in ("elu", "leaky_relu"):
            default = 1.0 if word == "elu" else 0.01
            alpha = args[1] if len(args) > 1 else kw.get("alpha", kw.get("negative_slope", default))
            return word + ("" if alpha == default else f" {_num(alpha)}"), [x]
        return word, [x]
    if t is F.adaptive_avg_pool2d and _pair(args[1] if len(args) > 1 else kw.get("output_size"),
                                            "output_size", where) == 1:
        return "gap", [args[0]]
    if t in (F.max_pool2d, F.avg_pool2d):
        names = ["kernel_size", "stride", "padding"]
        vals = dict(zip(names, args[1:]), **{k: v for k, v in kw.items() if k in names})
        k = _pair(vals["kernel_size"], "kernel", where)
        s = _pair(vals.get("stride") or k, "stride", where)
        p = _pair(vals.get("padding", 0), "padding", where)
        extra = set(kw) - set(names)
        if extra:
            raise ExportError(f"{where}: {sorted(extra)} are not supported")
        word = "maxpool" if t is F.max_pool2d else "avgpool"
        return f"{word} {k}" + (f" stride {s}" if s != k else "") + (f" pad {p}" if p else ""), [args[0]]
    name = getattr(t, "__name__", str(t))
    raise ExportError(f"{where}: the operation '{name}' is not supported; nothing "
                      "was written")


class _ShapeTracer(torch.fx.Tracer):
    """torch.fx's tracer, able to unpack the input's shape (`B, T =
    x.shape`, `B, C, H, W = x.size()`): the unpacking yields x.shape[i]
    nodes, as many as the example input has dimensions.  (torch 1.13's own
    answer reads the caller's bytecode, which Python 3.11 changed.)"""

    def __init__(self, example):
        super().__init__()
        self.example = example

    def iter(self, obj):
        node = obj.node
        src = None
        if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
            src = node.args[0]
        elif node.op == "call_method" and node.target == "size" and len(node.args) == 1:
            src = node.args[0]
        if src is None or src.op != "placeholder":
            raise ExportError(f"forward() iterates over '{node.format_node()}': only the "
                              "input's shape can be unpacked (B, T = x.shape); index "
                              "other shapes (h.shape[0])")
        return iter([obj[i] for i in range(self.example.dim())])


def trace(module, example_input):
    """The module's torch.fx graph, shapes filled in from example_input."""
    from torch.fx.passes.shape_prop import ShapeProp
    tracer = _ShapeTracer(example_input)
    graph = tracer.trace(module)
    gm = torch.fx.GraphModule(tracer.root, graph)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    ShapeProp(gm).propagate(example_input)
    return gm


def export_spec(module, example_input):
    """(spec, [(weight, bias)], [(mean, var)]) of a module: the graph of its
    trace in model.parameters() order."""
    module = module.double()
    example_input = example_input.double()
    gm = trace(module, example_input)
    mods = dict(gm.named_modules())
    items, tensor, used_modules = [], {}, set()
    for node in gm.graph.nodes:
        where = f"'{node.name}' ({node.format_node()})"
        if node.op == "placeholder":
            if tensor:
                raise ExportError("the module's forward takes more than one tensor")
            tensor[node] = 0
            continue
        if node.op == "output":
            out = node.args[0]
            if not isinstance(out, torch.fx.Node) or out not in tensor:
                raise ExportError("the module must return one tensor (the logits)")
            final = tensor[out]
            continue
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            continue  # shape arithmetic: x.shape, x.size(0), B * T, ...
        if node.op == "get_attr":
            raise ExportError(f"{where}: a tensor attribute used in forward() "
                              "(a buffer or parameter outside a module) is not supported")
        if node.op == "call_module":
            mod = mods[node.target]
            ins = [a for a in node.args if isinstance(a, torch.fx.Node)]
            shape = tuple(ins[0].meta["tensor_meta"].shape)
            word, has_params = _module_item(mod, node.target, shape)
            if has_params:
                if node.target in used_modules:
                    raise ExportError(f"module '{node.target}' is called twice: its "
                                      "parameters would be shared, which hessrmt's "
                                      "nodes do not do")
                used_modules.add(node.target)
            items.append({"word": word, "src": [tensor[ins[0]]], "module": node.target if has_params else None,
                          "bias": getattr(mod, "bias", None) is not None, "name": node.name,
                          "obj": mod, "kind": type(mod)})
        else:
            word, ins = _function_item(node, tensor, where)
            for a in ins:
                if a not in tensor:
                    raise ExportError(f"{where}: reads something that is not a tensor "
                                      "of the graph")
            if word is None:  # an alias
                tensor[node] = tensor[ins[0]]
                continue
            items.append({"word": word, "src": [tensor[a] for a in ins], "module": None,
                          "bias": False, "name": node.name, "obj": None, "kind": None})
        tensor[node] = len(items)
    if final != len(items):
        raise ExportError("the module's output is not its last operation")
    if len(example_input.shape) not in (2, 4):
        raise ExportError(f"the example input has shape {tuple(example_input.shape)}: "
                          "hessrmt takes (N, D) vectors or (N, C, H, W) images")
    items = _in_parameter_order(items, module)
    return _render(items, example_input), *_tensors(items)


def _in_parameter_order(items, module):
    """The items reordered (topologically) so that their parameters come in
    model.parameters() order, or a refusal that says why they cannot."""
    order = {}
    for k, (name, _) in enumerate(module.named_parameters()):
        order.setdefault(name.rsplit(".", 1)[0], k)
    n = len(items)
    readers = [[] for _ in range(n + 1)]
    for i, it in enumerate(items):
        for s in it["src"]:
            readers[s].append(i)
    # key: the first parameter at or after the node (what it must wait for)
    key = [float("inf")] * n
    for i in reversed(range(n)):
        own = order.get(items[i]["module"], float("inf")) if items[i]["module"] else float("inf")
        key[i] = min([own] + [key[r] for r in readers[i + 1]])
    placed, done, out = {0: 0}, set(), []
    while len(out) < n:
        ready = [i for i in range(n) if i not in done and all(s in placed for s in items[i]["src"])]
        i = min(ready, key=lambda j: (key[j], j))
        done.add(i)
        out.append(i)
        placed[i + 1] = len(out)
    new = []
    for i in out:
        it = dict(items[i])
        it["src"] = [placed[s] for s in it["src"]]
        new.append(it)
    mine = [it["module"] for it in new if it["module"]]
    theirs = sorted(mine, key=lambda m: order.get(m, -1))
    if mine != theirs:
        raise ExportError("the modules with parameters run in an order that no "
                          f"topological order of the graph can bring to "
                          f"model.parameters()'s ({theirs}); nothing was written")
    missing = [m for m in order if m not in mine]
    if missing:
        raise ExportError(f"parameters of {missing} are not used by forward(): "
                          "the Hessian would have rows of zeros hessrmt cannot place")
    return new


def _render(items, x):
    shape = tuple(x.shape[1:])
    text = ["input " + "x".join(map(str, shape))]
    referenced = set()
    for i, it in enumerate(items):
        for j, s in enumerate(it["src"]):
            if j > 0 or s != i:
                referenced.add(s)
    names = {0: "input"}
    for i, it in enumerate(items):
        if it["module"]:
            names[i + 1] = it["module"]
        elif i + 1 in referenced:
            names[i + 1] = it["name"]
    for i, it in enumerate(items):
        word = it["word"]
        if word == "add":
            word = f"add {names[it['src'][1]]}"
        if it["module"] and it["kind"] in (nn.Linear, nn.Conv2d) and not it["bias"]:
            word += " nobias"
        if it["src"][0] != i:
            word += f" from {names[it['src'][0]]}"
        if i + 1 in names:
            word += f" as {names[i + 1]}"
        text.append(word)
    return ", ".join(text)


def _tensors(items):
    layers, stats = [], []
    for it in items:
        m = it["obj"]
        if it["module"]:
            w = m.weight.detach().double().numpy()
            b = m.bias.detach().double().numpy() if m.bias is not None else None
            layers.append((w, b))
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            stats.append((m.running_mean.double().numpy(), m.running_var.double().numpy()))
    return layers, stats


def export(module, example_input, path):
    """Trace module on example_input (a batch: (N, D) or (N, C, H, W)) and
    write a hessrmt weights file at path; returns the spec.  An operation
    outside the supported set raises ExportError naming it, and nothing is
    written."""
    import copy
    spec, layers, stats = export_spec(copy.deepcopy(module), example_input)
    write_graph_weights(path, layers, stats, spec)
    return spec
