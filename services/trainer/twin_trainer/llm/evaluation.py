"""The evaluation of one model variant (base, SFT, SFT+DPO, the current champion) on the run's held-out set.

- `heldout_ppl`: perplexity of the author's held-out passages as the assistant's answer to their instruction
  (chat template, loss on the answer only: the way the twin is used); `heldout_ppl_raw`: of the plain text.
- Answers to held-out questions, generated greedily with the RAG context (the top passages of the author's
  training material by MiniLM similarity) in the prompt, are scored for:
  - `style_classifier_p_author`: the author-vs-contrast function-word classifier's mean probability (Hamilton vs
    Madison for the Federalist run), when contrast authors are configured;
  - `style_profile_similarity`: stylometric features against the author's held-out text (stylometry);
  - `style_score`: the classifier's probability when there is one, else the profile similarity;
  - `embedding_similarity`: cosine of the answers' MiniLM embeddings to the author's centroid (held-out text);
  - `groundedness`: share of the answers' content words found in the RAG context.
- `judge_win_rate` (optional): an LLM judge compares the candidate's answer with a reference model's in both
  orders; a win in both counts 1, a split 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin_trainer.llm.curation import words
from twin_trainer.llm.stylometry import AuthorClassifier, profile_similarity


@dataclass(frozen=True)
class HeldoutItem:
    question: str
    answer: str  # the author's held-out passage


@dataclass
class EvalSet:
    """Everything the gate measures on, built once per run from the held-out documents."""

    ppl_items: list[HeldoutItem]
    questions: list[HeldoutItem]
    contexts: list[str]  # RAG context per question
    reference_texts: list[str]  # the author's held-out text (style profile, centroid)
    centroid: np.ndarray | None = None
    classifier: AuthorClassifier | None = None
    classifier_accuracy: float | None = None  # on held-out documents of the author and the contrast authors

    def texts_by_set(self) -> dict[str, list[str]]:
        """What decontamination checks training rows against."""
        return {
            "heldout_passages": [i.answer for i in self.ppl_items] + self.reference_texts,
            "heldout_questions": [i.question for i in self.questions],
        }


@dataclass
class ModelScores:
    label: str
    metrics: dict[str, float]
    samples: list[str] = field(default_factory=list)


# --- models ---------------------------------------------------------------------------------------


def load_variant(base_dir: Path, adapter_dir: Path | None):
    """The base model, or base + adapter merged (faster to evaluate than a PeftModel)."""
    import torch
    from transformers import AutoModelForCausalLM

    from twin_trainer.llm.training import load_tokenizer

    has_tokenizer = adapter_dir is not None and (adapter_dir / "tokenizer_config.json").exists()
    tokenizer = load_tokenizer(adapter_dir if has_tokenizer else base_dir)
    if adapter_dir is not None and (adapter_dir / "config.json").exists():  # merged weights
        model = AutoModelForCausalLM.from_pretrained(str(adapter_dir), dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    model.config.use_cache = True
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def _chat_ids(tokenizer, question: str, answer: str | None) -> tuple[list[int], int]:
    """Token ids of the chat-formatted exchange and where the answer starts."""
    prompt = [{"role": "user", "content": question}]
    prefix = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    if answer is None:
        ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        return ids, len(ids)
    full = tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=False)
    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    return full_ids, len(prefix_ids)


def _nll(model, sequences: list[tuple[list[int], int]], max_length: int, batch_size: int = 4) -> tuple[float, int]:
    """Summed negative log-likelihood of the tokens after each sequence's start index, and their count."""
    import torch

    total, count = 0.0, 0
    pad = model.generation_config.pad_token_id or 0
    with torch.inference_mode():
        for i in range(0, len(sequences), batch_size):
            batch = [(ids[:max_length], start) for ids, start in sequences[i : i + batch_size]]
            batch = [(ids, start) for ids, start in batch if len(ids) > start + 1 or (start == 0 and len(ids) > 1)]
            if not batch:
                continue
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            for row, (ids, start) in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                attention[row, : len(ids)] = 1
                first = max(start, 1)
                labels[row, first : len(ids)] = torch.tensor(ids[first:])
            logits = model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)).logits
            shift_logits = logits[:, :-1].float()
            shift_labels = labels[:, 1:].to(model.device)
            loss = torch.nn.functional.cross_entropy(
                shift_logits.reshape(-1, shift_logits.shape[-1]),
                shift_labels.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            total += float(loss)
            count += int((shift_labels != -100).sum())
    return total, count


def completion_perplexity(model, tokenizer, items: Sequence[HeldoutItem], max_length: int) -> float:
    total, count = _nll(model, [_chat_ids(tokenizer, i.question, i.answer) for i in items], max_length)
    return math.exp(total / count) if count else math.nan


def raw_perplexity(model, tokenizer, texts: Sequence[str], max_length: int) -> float:
    total, count = _nll(model, [(tokenizer(t)["input_ids"], 0) for t in texts], max_length)
    return math.exp(total / count) if count else math.nan


def rag_prompt(question: str, context: str) -> str:
    return f"Use this material of yours where it helps:\n{context}\n\n{question}"


def generate_answers(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int, repetition_penalty: float, batch_size: int = 4
) -> list[str]:
    """Greedy answers to user prompts through the chat template (left padding, batched)."""
    import torch

    tokenizer.padding_side = "left"
    out: list[str] = []
    for i in range(0, len(prompts), batch_size):
        texts = [
            tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts[i : i + batch_size]
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            generated = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=repetition_penalty,
                pad_token_id=tokenizer.pad_token_id,
            )
        for row in generated[:, enc["input_ids"].shape[1] :]:
            out.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    tokenizer.padding_side = "right"
    return out


# --- scores ---------------------------------------------------------------------------------------

_STOP = None


def content_words(text: str) -> list[str]:
    global _STOP
    if _STOP is None:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        _STOP = frozenset(ENGLISH_STOP_WORDS)
    return [w for w in words(text) if len(w) > 2 and w not in _STOP]


def groundedness(answer: str, context: str) -> float:
    """Share of the answer's content words that appear in the context (0 for an empty answer)."""
    answer_words = content_words(answer)
    if not answer_words:
        return 0.0
    context_words = set(content_words(context))
    return sum(1 for w in answer_words if w in context_words) / len(answer_words)


def centroid(embedder, texts: Sequence[str]) -> np.ndarray:
    vectors = embedder.embed(list(texts))
    mean = vectors.mean(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


def embedding_similarity(embedder, texts: Sequence[str], center: np.ndarray) -> float:
    texts = [t for t in texts if t.strip()]
    if not texts:
        return 0.0
    return float((embedder.embed(texts) @ center).mean())


def score_answers(answers: Sequence[str], eval_set: EvalSet, embedder) -> dict[str, float]:
    metrics: dict[str, float] = {}
    metrics["style_profile_similarity"] = profile_similarity(answers, eval_set.reference_texts)
    if eval_set.classifier is not None:
        metrics["style_classifier_p_author"] = float(np.mean(eval_set.classifier.p_author(list(answers))))
        metrics["style_score"] = metrics["style_classifier_p_author"]
    else:
        metrics["style_score"] = metrics["style_profile_similarity"]
    if eval_set.centroid is not None:
        metrics["embedding_similarity"] = embedding_similarity(embedder, answers, eval_set.centroid)
    metrics["groundedness"] = (
        float(np.mean([groundedness(a, c) for a, c in zip(answers, eval_set.contexts, strict=True)]))
        if answers
        else 0.0
    )
    metrics["answer_words"] = float(np.mean([len(words(a)) for a in answers])) if answers else 0.0
    return metrics


def evaluate_variant(
    label: str,
    base_dir: Path,
    adapter_dir: Path | None,
    eval_set: EvalSet,
    embedder,
    *,
    ppl_max_length: int,
    max_new_tokens: int,
    repetition_penalty: float,
) -> tuple[ModelScores, list[str]]:
    """Scores of one model and its answers to the held-out questions."""
    model, tokenizer = load_variant(base_dir, adapter_dir)
    metrics = {
        "heldout_ppl": completion_perplexity(model, tokenizer, eval_set.ppl_items, ppl_max_length),
        "heldout_ppl_raw": raw_perplexity(model, tokenizer, [i.answer for i in eval_set.ppl_items], ppl_max_length),
    }
    prompts = [rag_prompt(q.question, c) for q, c in zip(eval_set.questions, eval_set.contexts, strict=True)]
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens, repetition_penalty)
    del model
    metrics.update(score_answers(answers, eval_set, embedder))
    return ModelScores(label, metrics, answers[:3]), answers


JUDGE_PROMPT = (
    "Here is a sample of an author's writing:\n{reference}\n\nQuestion: {question}\n\n"
    "Answer A:\n{a}\n\nAnswer B:\n{b}\n\n"
    "Which answer is written more like the author, and answers the question better? Reply with A or B only."
)


def judge_win_rate(route, eval_set: EvalSet, candidate: Sequence[str], reference: Sequence[str]) -> float:
    """Pairwise LLM judgement in both orders (position bias cancels); the candidate's share of wins."""
    score = 0.0
    for item, cand, ref in zip(eval_set.questions, candidate, reference, strict=True):
        first = _verdict(route(_judge_messages(item, cand, ref)))  # candidate as A
        second = _verdict(route(_judge_messages(item, ref, cand)))  # candidate as B
        score += 0.5 * (first == "A") + 0.5 * (second == "B")
    return score / len(candidate) if candidate else math.nan


def _judge_messages(item: HeldoutItem, a: str, b: str) -> list[dict[str, str]]:
    return [
        {
            "role": "user",
            "content": JUDGE_PROMPT.format(reference=item.answer[:1200], question=item.question, a=a, b=b),
        }
    ]


def _verdict(reply: str) -> str | None:
    text = (reply or "").strip().upper()
    for ch in text:
        if ch in "AB":
            return ch
    return None
