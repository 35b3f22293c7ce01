"""Load the shipped OpenVINO IR back into the torch CRNN, to fine-tune it where no GPU is at hand.

The IR is all a fresh checkout has of the shipped model (the torch checkpoint of the GPU run is
not kept in the repo). Its export folded each BatchNorm into the convolution before it, so the
rebuilt CRNN carries the folded weights and identity BatchNorms (weight 1, bias 0, mean 0, var
1 - eps). Those BatchNorms must stay in eval mode while fine-tuning (:func:`freeze_batchnorm`):
batch statistics would undo the folding. The LSTM's gates are stored in OpenVINO's order
(f, i, c, o) with one bias; torch wants (i, f, g, o) and two biases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge.plate.training.model import CRNN

# OpenVINO LSTMSequence gate order f, i, c, o → torch's i, f, g(=c), o
_OV_TO_TORCH_GATES = (1, 0, 2, 3)


def _constants(model) -> dict[str, list[np.ndarray]]:
    """The IR's (an ``openvino.Model``) weight constants by the operation that consumes them, in graph order."""
    found: dict[str, list[np.ndarray]] = {"conv": [], "conv_bias": [], "lstm": [], "head": [], "head_bias": []}
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ("Convolution", "Add", "LSTMSequence", "MatMul"):
            continue
        values = [_value(op.input_value(i).get_node()) for i in range(op.get_input_size())]
        if kind == "Convolution":
            found["conv"].append(values[1])
        elif kind == "LSTMSequence":
            found["lstm"] = values[4:7]
        elif kind == "MatMul":
            if not op.get_transpose_b():
                raise ValueError("unexpected head layout in the IR (MatMul without transpose_b)")
            found["head"].append(values[1])
        elif op.get_friendly_name() == "logits":
            found["head_bias"].append(values[0] if values[0] is not None else values[1])
        else:
            found["conv_bias"].append(values[1])
    return found


def _value(node) -> np.ndarray | None:
    """A Constant's value, looking through the Convert that decompresses FP16 weights."""
    if node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Constant":
        return None
    return np.asarray(node.get_data(), dtype=np.float32)


def _regates(w: np.ndarray) -> np.ndarray:
    """One direction's stacked gate rows from OpenVINO's order to torch's."""
    return np.concatenate([np.split(w, 4, axis=0)[g] for g in _OV_TO_TORCH_GATES], axis=0)


def load_ir(xml: Path) -> CRNN:
    """A CRNN whose outputs match the IR's (up to FP16 rounding), BatchNorms as identities."""
    import openvino as ov

    core = ov.Core()
    ir = core.read_model(str(xml))
    c = _constants(ir)
    model = CRNN()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    if any(v is None for vs in c.values() for v in vs):
        raise ValueError(f"{xml}: a weight is not a plain constant (an INT8 IR? fine-tune the FP16 one)")
    if not (len(c["conv"]) == len(convs) == len(c["conv_bias"]) == len(norms)) or len(c["lstm"]) != 3:
        raise ValueError(f"{xml}: not the CRNN this code trains ({len(c['conv'])} convolutions in the IR)")
    with torch.no_grad():
        for conv, norm, w, b in zip(convs, norms, c["conv"], c["conv_bias"]):
            conv.weight.copy_(torch.from_numpy(w.reshape(conv.weight.shape)))
            norm.weight.fill_(1.0)
            norm.bias.copy_(torch.from_numpy(b.reshape(-1)))
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
        w, r, b = c["lstm"]
        for d, suffix in enumerate(("", "_reverse")):
            getattr(model.rnn, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(_regates(w[d])))
            getattr(model.rnn, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(_regates(r[d])))
            getattr(model.rnn, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(_regates(b[d])))
            getattr(model.rnn, f"bias_hh_l0{suffix}").zero_()
        model.head.weight.copy_(torch.from_numpy(c["head"][0]))
        model.head.bias.copy_(torch.from_numpy(c["head_bias"][0].reshape(-1)))
    model.eval()
    _check(model, core.compile_model(ir, "CPU"), xml)
    return model


def _check(model: CRNN, compiled, xml: Path) -> None:
    """Refuse a rebuilt model whose columns' best classes differ from the IR's (a mapping error)."""
    x = np.random.default_rng(0).random((8, 1, 32, 160), dtype=np.float32)
    ref = compiled(x)[0]
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    same = float((ref.argmax(-1) == out.argmax(-1)).mean())
    if same < 0.99:
        raise ValueError(f"{xml}: the rebuilt model agrees with the IR on only {same:.1%} of columns")


def freeze_batchnorm(model: nn.Module) -> None:
    """Keep every BatchNorm at its stored statistics and affine values (call after ``model.train()``)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)
