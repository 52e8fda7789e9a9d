"""Batches and losses of the cross-encoder training: listwise groups put each positive first with its query's
negatives; a constant scorer cannot do better than ln(group size) there."""

import math

import pytest
import torch
from twin_trainer.reranker.pairs import Pair
from twin_trainer.reranker.train import _loss, listwise_batches, pointwise_batches


def _pairs():
    out = []
    for q, positives, negatives in [
        ("q1", ["p1"], ["n1", "n2"]),
        ("q2", ["p2", "p3"], ["n3", "n4"]),
        ("q3", ["p4"], []),
    ]:
        out += [Pair(q, q, d, d, 1.0) for d in positives] + [Pair(q, q, d, d, 0.0) for d in negatives]
    return out


def test_listwise_groups_each_positive_with_its_querys_negatives():
    batches = listwise_batches(_pairs(), batch_size=6)
    groups = [[p.doc_id for p in group] for batch in batches for group in batch]
    assert groups == [["p1", "n1", "n2"], ["p2", "n3", "n4"], ["p3", "n3", "n4"]]  # q3 has no negatives
    assert [sum(len(g) for g in batch) for batch in batches] == [6, 3]  # packed up to the batch size


def test_a_group_larger_than_the_batch_is_still_one_batch():
    assert len(listwise_batches(_pairs(), batch_size=2)) == 3


def test_pointwise_batches_hold_one_pair_per_group():
    batches = pointwise_batches(_pairs(), batch_size=3)  # 8 pairs
    assert [len(b) for b in batches] == [3, 3, 2] and all(len(g) == 1 for b in batches for g in b)


def test_listwise_loss_of_a_constant_scorer_is_log_group_size_and_falls_when_positives_lead():
    batch = listwise_batches(_pairs(), batch_size=6)[0]
    flat = sum(len(g) for g in batch)
    constant = _loss(torch, torch.zeros(flat), batch, "listwise")
    assert float(constant) == pytest.approx(math.log(3))
    ranked = torch.tensor([5.0, 0.0, 0.0, 5.0, 0.0, 0.0])  # each group's positive scored highest
    assert float(_loss(torch, ranked, batch, "listwise")) < 0.02
    inverted = torch.tensor([0.0, 5.0, 5.0, 0.0, 5.0, 5.0])
    assert float(_loss(torch, inverted, batch, "listwise")) > float(constant)


def test_pointwise_loss_uses_the_labels():
    batch = pointwise_batches(_pairs()[:3], batch_size=3)[0]  # p1, n1, n2
    good = _loss(torch, torch.tensor([5.0, -5.0, -5.0]), batch, "pointwise")
    bad = _loss(torch, torch.tensor([-5.0, 5.0, 5.0]), batch, "pointwise")
    assert float(good) < 0.01 < float(bad)
