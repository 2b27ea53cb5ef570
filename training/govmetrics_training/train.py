"""Train the record model on the annotated corpus.

    govmetrics train [--out models/NEW] [--base models/base/multilingual-e5-small | --init models/CURRENT]
                     [--data annotations/data] [--epochs 10] [--layers 6] [--seed 13]

Steps, in plain sight: load the corpus and its splits; trim the base
encoder's 250k-piece vocabulary to the pieces the data uses plus every
single-character piece (or, with --init, take the current model's vocabulary
and weights); build windows and labels (grammar candidates matched to gold
records as ../shared/tools/score.py matches them); fine-tune, scoring the dev
split after every epoch; fit the confidence calibrator on the dev split;
save weights (int8), config, labels, tokenizer, calibration and metrics.json
side by side.

Training never writes into an existing model folder: everything goes to a
hidden staging folder beside --out, renamed to --out only when complete, so an
interrupted run leaves nothing that loads and never touches a model in use.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from govmetrics.model.encoder import EncoderConfig
from govmetrics.model.inference import WEIGHTS, RecordTagger
from govmetrics.model.record_model import ModelConfig, RecordModel, WindowFeatures, batches, collate, featurize
from govmetrics.model.storage import load_int8, save_int8
from govmetrics.grammar.quantities import QuantityGrammar
from govmetrics.grammar.vocabulary import ROLES
from govmetrics_training.annotations import PROJECT_ROOT, AnnotatedDoc, load_corpus
from govmetrics_training.evaluate import load_scorer

DEFAULT_BASE = PROJECT_ROOT / "models" / "base" / "multilingual-e5-small"
IGNORE = -100


@dataclass
class Example:
    features: WindowFeatures
    role: list[int]
    direction: list[int]
    spans: dict[str, list[tuple[int, int]]]  # per field, per quantity: (start token, end token), IGNORE if unknown


# ---------------------------------------------------------------- vocabulary
def trim_tokenizer(base_tokenizer: Path, texts: list[str]) -> tuple[dict[str, Any], list[int]]:
    """A tokenizer.json over the pieces `texts` use plus all single-character pieces.

    Unigram segmentation picks the best path; dropping pieces that no best
    path uses leaves those paths (and so the training data's tokens) unchanged.
    """
    from tokenizers import Tokenizer

    spec = json.loads(base_tokenizer.read_text(encoding="utf-8"))
    full = Tokenizer.from_file(str(base_tokenizer))
    used: set[int] = {0, 1, 2, 3}
    for i in range(0, len(texts), 64):
        for enc in full.encode_batch(texts[i:i + 64]):
            used.update(enc.ids)
    vocab = spec["model"]["vocab"]
    keep = sorted(i for i, (piece, _) in enumerate(vocab) if i in used or len(piece.lstrip("▁")) <= 1)
    new_id = {old: new for new, old in enumerate(keep)}
    spec["model"]["vocab"] = [vocab[i] for i in keep]
    spec["model"]["unk_id"] = new_id[spec["model"]["unk_id"]]
    spec["added_tokens"] = [dict(t, id=new_id[t["id"]]) for t in spec["added_tokens"] if t["id"] in new_id]
    for tok in spec["post_processor"]["special_tokens"].values():
        tok["ids"] = [new_id[i] for i in tok["ids"]]
    return spec, keep


# ---------------------------------------------------------------- labels
def label_document(doc: AnnotatedDoc, tokenizer: Any, config: ModelConfig, grammar: QuantityGrammar,
                   scorer: Any) -> list[Example]:
    quantities = [q for q in grammar.find(doc.text) if doc.in_regions(q.start, q.end)]
    cands = [{"kind": q.kind, "start": q.start, "end": q.end} for q in quantities]
    index_of = {id(c): i for i, c in enumerate(cands)}
    gold_of = {index_of[id(p)]: g for g, p in scorer.match(doc.records, cands)}
    examples = []
    for f in featurize(tokenizer, doc.text, quantities, config):
        roles, dirs = [], []
        spans: dict[str, list[tuple[int, int]]] = {fld: [] for fld in config.span_fields}
        for qi, _, _ in f.quantities:
            g = gold_of.get(qi)
            roles.append(config.role_labels.index(g["role"]) if g else 0)
            dirs.append(config.direction_labels.index(g["direction"] or "none") if g else IGNORE)
            for fld in config.span_fields:
                spans[fld].append(_token_span(f, g.get(fld)) if g else (IGNORE, IGNORE))
        examples.append(Example(f, roles, dirs, spans))
    return examples


def _token_span(f: WindowFeatures, span: dict[str, Any] | None) -> tuple[int, int]:
    if not span:
        return (0, 0)
    toks = [i for i, (s, e) in enumerate(f.offsets) if e > s and s < span["end"] and e > span["start"]]
    if not toks or span["start"] < f.window.start or span["end"] > f.window.end:
        return (IGNORE, IGNORE)  # the span lies outside the window: teach nothing either way
    return (toks[0], toks[-1])


# ---------------------------------------------------------------- training
def loss_of(outputs: dict[str, torch.Tensor], batch: list[Example], config: ModelConfig) -> torch.Tensor:
    ce = nn.functional.cross_entropy
    device = outputs["role"].device
    role = torch.tensor([r for ex in batch for r in ex.role], device=device)
    direction = torch.tensor([d for ex in batch for d in ex.direction], device=device)
    loss = ce(outputs["role"], role)
    if (direction != IGNORE).any():
        loss = loss + ce(outputs["direction"], direction, ignore_index=IGNORE)
    for fld in config.span_fields:
        pairs = [p for ex in batch for p in ex.spans[fld]]
        for side, k in (("start", 0), ("end", 1)):
            target = torch.tensor([p[k] for p in pairs], device=device)
            if (target != IGNORE).any():
                loss = loss + ce(outputs[f"{fld}_{side}"], target, ignore_index=IGNORE)
    return loss


def train_model(model: RecordModel, examples: list[Example], config: ModelConfig, epochs: int, lr: float,
                batch_tokens: int, seed: int, pad_id: int, device: torch.device,
                after_epoch: Callable[[int], None] | None = None, head_lr_scale: float = 20.0) -> None:
    from tqdm import tqdm

    by_feat = {id(ex.features): ex for ex in examples}
    groups = [[by_feat[id(f)] for f in b] for b in batches([ex.features for ex in examples], batch_tokens)]
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    enc_params = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": enc_params, "lr": lr}, {"params": head_params, "lr": lr * head_lr_scale}],
                            weight_decay=0.01)
    total = epochs * len(groups)
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))
    rng = random.Random(seed)
    model.to(device)
    model.train()
    for epoch in range(epochs):
        rng.shuffle(groups)
        bar = tqdm(groups, desc=f"epoch {epoch + 1}/{epochs}", unit="batch")
        running = 0.0
        for i, group in enumerate(bar, 1):
            x = {k: v.to(device) for k, v in collate([ex.features for ex in group], pad_id).items()}
            loss = loss_of(model(**x), group, config)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            running += float(loss.detach())
            bar.set_postfix(loss=f"{running / i:.3f}")
        if after_epoch is not None:
            model.eval()
            after_epoch(epoch + 1)
            model.train()


# ---------------------------------------------------------------- calibration
def fit_calibrator(features: list[list[float]], correct: list[int], steps: int = 500) -> dict[str, Any]:
    x = torch.tensor(features, dtype=torch.float64)
    y = torch.tensor(correct, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = x @ w + b
        loss = nn.functional.binary_cross_entropy_with_logits(z, y) + 1e-3 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return {"weights": [float(v) for v in w.detach()], "bias": float(b.detach()),
            "features": ["log(1-p) role", "log(1-p) direction", "log(1-p) metric span", "log(1-p) action span",
                         "metric found", "action found", *(f"role={r}" for r in ROLES)],
            "fitted_on": "dev split", "examples": len(correct)}


def calibration_data(tagger: RecordTagger, docs: list[AnnotatedDoc], scorer: Any) -> tuple[list[list[float]], list[int]]:
    """Calibrator inputs and "record right as a whole" for every prediction inside the annotated regions."""
    grammar = QuantityGrammar()
    feats, correct = [], []
    quantities = [grammar.find(d.text) for d in docs]
    preds = tagger.predict([d.text for d in docs], quantities)
    for d, qs, ps in zip(docs, quantities, preds):
        inside = [(r.to_json(), p) for r, p in tagger.scored(d.text, qs, ps)
                  if d.in_regions(r.quantity.start, r.quantity.end)]
        matched = {id(pj): g for g, pj in scorer.match(d.records, [pj for pj, _ in inside])}
        for pj, p in inside:
            g = matched.get(id(pj))
            feats.append(p.features())
            correct.append(int(g is not None and scorer.same_record(g, pj)))
    return feats, correct


def _shown(v: Any) -> Any:
    """Paths inside the project relative to it, so the saved arguments read the same on every clone."""
    if isinstance(v, list):
        return [_shown(x) for x in v]
    if not isinstance(v, Path):
        return v
    try:
        return str(v.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(v)


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="govmetrics train", description="Train the record model.")
    ap.add_argument("--data", type=Path, nargs="+", default=[PROJECT_ROOT / "annotations" / "data"],
                    help="annotation JSONL files or folders (default annotations/data); new labels mix with the "
                         "existing corpus when both are given, so retraining does not forget")
    ap.add_argument("--out", type=Path, default=None,
                    help="a new model folder (default models/govmetrics-zh-<UTC time>); never an existing one")
    ap.add_argument("--base", type=Path, default=DEFAULT_BASE, help="converted base encoder (make base)")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this model folder (its vocabulary, layers and weights) instead of --base")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--layers", type=int, default=6, help="keep the first N encoder layers")
    ap.add_argument("--lr", type=float, default=1.5e-4)
    ap.add_argument("--batch-tokens", type=int, default=1536)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--device", default="auto", help="auto (a GPU when present, else CPU), cpu, cuda")
    ap.add_argument("--limit-docs", type=int, default=None, help="train on the first N training documents (smoke runs)")
    ap.add_argument("--name", default=None)
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--recalibrate", action="store_true",
                    help="train nothing: copy the model of --init to --out with its calibrator refitted on the dev split")
    args = ap.parse_args(argv)
    if args.out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        args.out = PROJECT_ROOT / "models" / f"{args.name or 'govmetrics-zh'}-{stamp}"
    return train(args)


def refuse_existing(out: Path) -> None:
    """E035 for an existing model folder: training writes only new ones (an empty folder counts as new)."""
    from govmetrics.errors import GovMetricsError

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GovMetricsError.make("E035", path=out)


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A hidden folder beside `out` that becomes `out` by one rename when the block completes.

    On any error or Ctrl-C the staging folder is removed and `out` never appears; after a
    kill -9 only a hidden `.NAME.partial-PID` folder is left, which has no weights under
    the model's own name and is not loadable as `out`."""
    refuse_existing(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.partial-*"):  # left by a run that was killed outright
        if not _alive(stale.name.rpartition("-")[2]):
            shutil.rmtree(stale, ignore_errors=True)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    # SIGTERM (kill, a scheduler's stop) unwinds like Ctrl-C, so the staging folder is removed too.
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        yield stage
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def dev_scores(tagger: RecordTagger, docs: list[AnnotatedDoc], scorer: Any) -> dict[str, Any]:
    """RECORDS.md scores of `tagger` on `docs`, overall and per genre (records inside the regions)."""
    grammar = QuantityGrammar()
    quantities = [grammar.find(d.text) for d in docs]
    preds = tagger.predict([d.text for d in docs], quantities)
    gold = {d.id: d.records for d in docs}
    pred = {d.id: [r.to_json() for r in tagger.records(d.text, qs, ps) if d.in_regions(r.quantity.start, r.quantity.end)]
            for d, qs, ps in zip(docs, quantities, preds)}
    out = {"all": scorer.score(gold, pred)}
    for genre in sorted({d.genre for d in docs}):
        out[genre] = scorer.score(gold, pred, {d.id for d in docs if d.genre == genre})
    return out


def _summary(scores: dict[str, Any]) -> str:
    return "  ".join(f"{g} {s['record']['f1']:.3f}" + (f" (ECE {s['ece']:.3f})" if s.get("ece") is not None else "")
                     for g, s in scores.items())


def recalibrate(model_dir: Path, dev_docs: list[AnnotatedDoc]) -> dict[str, Any]:
    """Fit the calibrator of a saved model (a staging folder) on the dev documents and save it beside the weights."""
    tagger = RecordTagger(model_dir)  # the shipped path: int8 weights, dynamic int8 matmuls
    tagger.calibrator = None
    feats, correct = calibration_data(tagger, dev_docs, load_scorer())
    calib = fit_calibrator(feats, correct)
    (model_dir / "calibration.json").write_text(json.dumps(calib, indent=2))
    print(f"calibrator fitted on {len(correct)} dev records ({sum(correct) / max(1, len(correct)):.3f} right)")
    return calib


def train(args: argparse.Namespace) -> int:
    from govmetrics.errors import GovMetricsError

    refuse_existing(args.out)  # before anything else: never a model in use
    if args.init is not None and not (args.init / "config.json").is_file():
        raise GovMetricsError.make("E036", path=args.init)
    if args.recalibrate:
        if args.init is None:
            raise GovMetricsError.make("E039")
        with staged(args.out) as stage:
            shutil.copytree(args.init, stage, dirs_exist_ok=True)
            recalibrate(stage, [d for d in load_corpus(args.data) if d.split == "dev"])
        print(f"saved {args.out}")
        return 0
    if args.init is None and not (args.base / "model.safetensors").is_file():
        raise GovMetricsError.make("E032", path=args.base)
    with staged(args.out) as stage:
        _train(args, stage)
    print(f"saved {args.out}")
    return 0


def _train(args: argparse.Namespace, stage: Path) -> None:
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    t0 = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    # Same seed, same weights: without this, threaded CPU reductions may add in another order.
    torch.use_deterministic_algorithms(True, warn_only=True)
    docs = list({d.id: d for d in reversed(load_corpus(args.data))}.values())[::-1]  # a file given twice counts once
    train_docs = [d for d in docs if d.split == "train"]
    dev_docs = [d for d in docs if d.split == "dev"]
    if args.limit_docs:
        train_docs, dev_docs = train_docs[:args.limit_docs], dev_docs[:max(1, args.limit_docs // 2)]
    print(f"corpus: {len(train_docs)} train, {len(dev_docs)} dev documents "
          f"({sum(len(d.records) for d in train_docs)} / {sum(len(d.records) for d in dev_docs)} records)")

    if args.init is not None:
        # Continue from a trained model: its vocabulary, depth and weights, new name and version.
        shutil.copyfile(args.init / "tokenizer.json", stage / "tokenizer.json")
        init_config = ModelConfig.load(args.init / "config.json")
        config = ModelConfig(encoder=init_config.encoder, name=args.name or args.out.name, version=args.version)
        model = RecordModel(config)
        model.load_state_dict(load_int8(args.init / WEIGHTS))
        print(f"initialised from {args.init} ({init_config.encoder['num_hidden_layers']} layers)")
    else:
        spec, keep = trim_tokenizer(args.base / "tokenizer.json", [d.text for d in train_docs + dev_docs])
        (stage / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        print(f"vocabulary: {len(keep)} of {len(json.loads((args.base / 'tokenizer.json').read_text())['model']['vocab'])} pieces kept")
        base_cfg = EncoderConfig.from_dict(json.loads((args.base / "config.json").read_text()))
        base_cfg.vocab_size = len(keep)
        base_cfg.num_hidden_layers = args.layers
        config = ModelConfig(encoder=base_cfg.to_hf_dict(), name=args.name or args.out.name, version=args.version)
        model = RecordModel(config)
        base_state = load_file(str(args.base / "model.safetensors"))
        base_state["embeddings.word_embeddings.weight"] = base_state["embeddings.word_embeddings.weight"][keep]
        missing, unexpected = model.encoder.load_state_dict(base_state, strict=False)
        assert not missing, missing  # the dropped upper layers are the only unexpected keys
    tokenizer = Tokenizer.from_file(str(stage / "tokenizer.json"))
    print(f"encoder: {config.encoder['num_hidden_layers']} layers, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")

    scorer = load_scorer()
    grammar = QuantityGrammar()
    examples = [ex for d in train_docs for ex in label_document(d, tokenizer, config, grammar, scorer)]
    print(f"training windows: {len(examples)}, candidates: {sum(len(ex.role) for ex in examples)}")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    print(f"device: {device}")
    epochs: list[dict[str, Any]] = []

    def after_epoch(epoch: int) -> None:
        tagger = RecordTagger.from_model(model, config, tokenizer)
        with torch.no_grad():
            scores = dev_scores(tagger, dev_docs, scorer) if dev_docs else {}
        epochs.append({"epoch": epoch, "dev_record_f1": {g: s["record"]["f1"] for g, s in scores.items()}})
        print(f"epoch {epoch} dev record F1: {_summary(scores)}", flush=True)

    # Fresh heads learn at 20x the encoder's rate; trained ones (--init) at the same rate, since Adam
    # moves every weight by about the learning rate a step and 20x would undo what they learnt.
    train_model(model, examples, config, args.epochs, args.lr, args.batch_tokens, args.seed,
                tokenizer.token_to_id("<pad>"), device, after_epoch, head_lr_scale=1.0 if args.init else 20.0)
    model.to("cpu")

    config.save(stage / "config.json")
    save_int8(model.state_dict(), stage / WEIGHTS)
    recalibrate(stage, dev_docs)
    final = dev_scores(RecordTagger(stage), dev_docs, scorer) if dev_docs else {}
    print(f"saved model on dev (int8, calibrated): {_summary(final)}")
    (stage / "metrics.json").write_text(json.dumps(
        {"selection": {"split": "dev", "docs": len(dev_docs)}, "epochs": epochs, "dev": final},
        ensure_ascii=False, indent=2), encoding="utf-8")
    (stage / "train_args.json").write_text(json.dumps(
        {k: _shown(v) for k, v in vars(args).items()} | {
            "train_documents": len(train_docs), "dev_documents": len(dev_docs),
            "minutes": round((time.time() - t0) / 60, 1), "torch_threads": torch.get_num_threads()}, indent=2))
    print(f"trained in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    raise SystemExit(main())
