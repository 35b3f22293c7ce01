"""Train the plate recogniser and export it for OpenVINO, in one command.

    python -m edge.plate.training.train --real .train/real.npz --out .train/run --minutes 8

Batches mix synthetic plates of every layout (VN one-/two-row, CN, Latin) with the training 80% of
the real crops (augmented); the other 20% (:func:`data.is_validation`) only measure. Writes
``recognizer.onnx`` and ``metrics.json`` under ``--out``; :mod:`edge.plate.training.export` turns
the ONNX file into the OpenVINO IR the box ships. Runs on a GPU when there is one, else on the CPU
(slowly).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from edge.plate.charset import CHARS
from edge.plate.synth import LAYOUTS
from edge.plate.training import data, labels
from edge.plate.training.from_ir import freeze_batchnorm, load_ir
from edge.plate.training.model import CRNN
from edge.plate.training.schedule import lr_factor

log = logging.getLogger("plate.train")


class Mixed(IterableDataset):
    """Endless samples: synthetic with probability ``1 - real_share``, else an augmented real crop."""

    def __init__(self, real: list[tuple[bytes, str, int]], real_share: float, seed: int):
        self.real, self.real_share, self.seed = real, real_share, seed

    def __iter__(self):
        info = get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        np.random.seed(rng.randrange(1 << 30))
        while True:
            if self.real and rng.random() < self.real_share:
                jpeg, text, rows = rng.choice(self.real)
                s = data.real(jpeg, text, rows, rng, augment=True)
                if s is None:
                    continue
            else:
                s = data.synthetic(rng)
            yield s


def collate(samples: list[data.Sample]):
    return data.tensors(samples)


def greedy(logits: torch.Tensor) -> list[str]:
    best = logits.argmax(-1).cpu().numpy()
    out = []
    for row in best:
        prev, chars = 0, []
        for k in row:
            if k != prev and k != 0:
                chars.append(CHARS[k - 1])
            prev = k
        out.append("".join(chars))
    return out


def usable_label(text: str) -> str | None:
    """A packed crop's label without separators, or None (outside the alphabet, or dealer-frame text)."""
    label = data.label_of(text)
    return label if label is not None and 4 <= len(label) <= 12 else None


def training_label(text: str, path: str, rows: int) -> str | None:
    """A training crop's label, mended to its grammar (:mod:`labels`), or None to leave it out."""
    grammar = labels.grammar_of(path)
    label = usable_label(labels.mend_printed(text, grammar))
    return labels.mend(label, grammar, rows) if label is not None else None


def load_real(path: Path | None, mend_labels: bool = True) -> tuple[list, list]:
    """(training, held-out) real crops as (jpeg, text, rows); training labels mended (:mod:`labels`)."""
    if path is None or not path.exists():
        return [], []
    z = np.load(path, allow_pickle=True)
    train, val = [], []
    mended = dropped = 0
    for jpeg, text, rows, p in zip(z["jpeg"], z["text"], z["rows"], z["path"]):
        label = usable_label(str(text))
        if label is None:
            continue
        if data.is_validation(str(p)):
            val.append((bytes(jpeg), str(text), int(rows)))
            continue
        if mend_labels:
            fixed = training_label(str(text), str(p), int(rows))
            if fixed is None:
                dropped += 1
                continue
            mended += fixed != label
            text = fixed
        train.append((bytes(jpeg), str(text), int(rows)))
    log.info("training labels: %d mended, %d left out (grammar)", mended, dropped)
    return train, val


@torch.no_grad()
def evaluate(model: nn.Module, samples: list[data.Sample], device: str) -> float:
    if not samples:
        return float("nan")
    modes = [m.training for m in model.modules()]  # restored after: frozen BatchNorms stay frozen
    model.eval()
    correct = 0
    for i in range(0, len(samples), 512):
        x, _, _, labels, _ = data.tensors(samples[i:i + 512])
        pred = greedy(model(x.to(device)))
        correct += sum(p == t for p, t in zip(pred, labels))
    for m, training in zip(model.modules(), modes):
        m.training = training
    return correct / len(samples)


@dataclass
class Recipe:
    """How one model is trained (the command line's training flags)."""

    max_steps: int = 30000
    minutes: float = 8.0
    batch: int = 256
    workers: int = 8
    real_share: float = 0.3
    lr: float = 2e-3
    seed: int = 1
    drop_real: float = 0.15
    trust_after: int = 800
    log_every: int = 500
    ema: float = 0.0


@dataclass
class Fitted:
    model: nn.Module
    steps: int
    seconds: float
    last: nn.Module | None = None  # the weights of the last step, when ``model`` is their average


def fit(real_train: list, recipe: Recipe, device: str, val_real: list[data.Sample] | None = None,
        init: nn.Module | None = None) -> Fitted:
    """Train a CRNN on synthetic plates mixed with ``real_train``; stops at the step or time budget.

    ``init``: fine-tune this model (rebuilt from the shipped IR by :func:`from_ir.load_ir`, its
    BatchNorms folded, so they stay frozen) instead of training a fresh one. With ``recipe.ema``,
    the model returned is the exponential moving average of the weights (``last``: the last step's):
    a fine-tuning on a few hundred real crops moves its weights about one good spot from batch to
    batch, and their average sits nearer its middle than any one step does.
    """
    torch.manual_seed(recipe.seed)
    model = (init if init is not None else CRNN()).to(device)
    model.train()
    if init is not None:
        freeze_batchnorm(model)
    ema = (torch.optim.swa_utils.AveragedModel(model, use_buffers=True,
                                               multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(recipe.ema))
           if recipe.ema else None)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr * lr_factor(0.0),
                            weight_decay=1e-4)
    # The schedule follows whichever budget runs out first, steps or minutes: a run stopped by the clock
    # half-way through a schedule laid over the step budget ends at a high rate, its weights unsettled
    # (CPU fine-tunes did so, stopped at 1,092 of 2,800 steps).
    budget = recipe.minutes * 60
    ctc = nn.CTCLoss(blank=0, zero_infinity=True, reduction="none")
    loader = DataLoader(Mixed(real_train, recipe.real_share, recipe.seed), batch_size=recipe.batch,
                        num_workers=recipe.workers, collate_fn=collate, persistent_workers=False,
                        prefetch_factor=4 if recipe.workers else None)
    t0 = time.monotonic()
    step = 0
    for x, targets, lengths, _, real in loader:
        x = x.to(device, non_blocking=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(x)
        logp = logits.float().log_softmax(-1).permute(1, 0, 2)  # T×B×K
        in_len = torch.full((x.shape[0],), logp.shape[0], dtype=torch.long)
        per = ctc(logp, targets, in_len, lengths) / lengths.to(logp.device).clamp(min=1)
        keep = torch.ones_like(per, dtype=torch.bool)
        real = real.to(per.device)
        if step >= recipe.trust_after and real.sum() > 4:
            # small-loss trick: the real crops whose loss is highest are the likeliest mislabelled;
            # leave them out of this step so the model does not learn the shared set's label errors
            cut = torch.quantile(per[real].detach(), 1.0 - recipe.drop_real)
            keep = ~real | (per <= cut)
        loss = per[keep].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        for group in opt.param_groups:
            group["lr"] = recipe.lr * lr_factor(max((step + 1) / recipe.max_steps, (time.monotonic() - t0) / budget))
        if ema is not None:
            ema.update_parameters(model)
        step += 1
        if step % recipe.log_every == 0:
            log.info("step=%d loss=%.4f lr=%.5f val_real=%.4f%s %.0fs", step, loss.item(), opt.param_groups[0]["lr"],
                     evaluate(model, val_real or [], device),
                     f" ema={evaluate(ema.module, val_real or [], device):.4f}" if ema is not None else "",
                     time.monotonic() - t0)
        if step >= recipe.max_steps or time.monotonic() - t0 > budget:
            break
    seconds = round(time.monotonic() - t0, 1)
    return Fitted(ema.module, step, seconds, last=model) if ema is not None else Fitted(model, step, seconds)


def add_recipe_args(ap: argparse.ArgumentParser, minutes: float = 8.0, max_steps: int = 30000) -> None:
    ap.add_argument("--minutes", type=float, default=minutes, help="training time budget (per model)")
    ap.add_argument("--max-steps", type=int, default=max_steps)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--real-share", type=float, default=0.3)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drop-real", type=float, default=0.15,
                    help="share of each batch's real crops (highest loss) left out, against label noise")
    ap.add_argument("--trust-after", type=int, default=800, help="steps before --drop-real applies")
    ap.add_argument("--log-every", type=int, default=500, help="steps between progress lines (with val_real)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="keep an exponential moving average of the weights with this decay (e.g. 0.998) and "
                         "export it; the last step's weights go to recognizer-last.onnx")


def recipe_of(args: argparse.Namespace) -> Recipe:
    return Recipe(**{f: getattr(args, f) for f in Recipe.__dataclass_fields__})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, help="real crops packed by edge.plate.training.realpack")
    ap.add_argument("--out", type=Path, required=True)
    add_recipe_args(ap)
    ap.add_argument("--init-ir", type=Path,
                    help="fine-tune this OpenVINO IR (e.g. edge/plate/models/recognizer.xml) instead of "
                         "training from scratch; use a lower --lr (3e-4) and --trust-after 0")
    ap.add_argument("--raw-labels", action="store_true",
                    help="train on the shared labels as they are (no grammar mending, see training.labels)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    real_train, real_val = load_real(args.real, mend_labels=not args.raw_labels)
    log.info("device=%s real_train=%d real_val=%d", device, len(real_train), len(real_val))
    vrng = random.Random(12345)
    val_real = [s for s in (data.real(j, t, r, vrng, augment=False) for j, t, r in real_val) if s]
    val_synth = {lay: [data.synthetic(vrng, lay) for _ in range(500)] for lay in LAYOUTS}
    init = load_ir(args.init_ir) if args.init_ir else None
    if init is not None:
        log.info("fine-tuning %s: val_real=%.4f before", args.init_ir, evaluate(init, val_real, "cpu"))
    fitted = fit(real_train, recipe_of(args), device, val_real, init)
    model = fitted.model
    metrics = {"steps": fitted.steps, "seconds": fitted.seconds,
               "val_real_vn": evaluate(model, val_real, device), "val_real_n": len(val_real),
               **{f"val_synth_{k}": evaluate(model, v, device) for k, v in val_synth.items()}}
    if fitted.last is not None:
        metrics["val_real_vn_last"] = evaluate(fitted.last, val_real, device)
    log.info("final %s", metrics)
    args.out.mkdir(parents=True, exist_ok=True)
    save(model, args.out / "recognizer")
    if fitted.last is not None:
        save(fitted.last, args.out / "recognizer-last")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return 0


def save(model: nn.Module, stem: Path) -> None:
    """``stem``.pt (the state dict) and ``stem``.onnx (what :mod:`export` turns into the IR)."""
    model = model.float().cpu().eval()
    torch.save(model.state_dict(), stem.with_suffix(".pt"))
    torch.onnx.export(model, torch.zeros(1, 1, 32, 160), str(stem.with_suffix(".onnx")),
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)


if __name__ == "__main__":
    raise SystemExit(main())
