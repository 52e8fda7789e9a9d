"""The text-generation backend: a Hugging Face causal LM (optionally with a PEFT LoRA adapter), a chat
template, sampling, stop sequences and token-by-token streaming.

Directory layouts it loads:
- a causal LM directory (config.json with a *ForCausalLM architecture, tokenizer, weights);
- the same with a PEFT adapter in `adapter/` (applied on top of that directory's weights);
- a bare PEFT adapter directory (adapter_config.json at the root), applied on top of `base_dir`.
Adapters are merged into the weights (`merge=True`) or kept as a PeftModel.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from twin_inference_client.schema import GenerationParams

ADAPTER_SUBDIR = "adapter"


class GenerationInputError(ValueError):
    """A generation request the model cannot serve as asked (too long, bad parameters)."""


@dataclass(frozen=True)
class TokenEvent:
    """One step of a generation: the new text (may be empty while a stop string is undecided)."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


class LlmBackend:
    def __init__(self, model, tokenizer, *, max_prompt_tokens: int, max_new_tokens: int, adapter: str | None):
        self.model = model
        self.tokenizer = tokenizer
        self.max_prompt_tokens = max_prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.adapter = adapter
        eos = model.generation_config.eos_token_id if model.generation_config else None
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self.eos_ids = eos_ids

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        base_dir: Path | None = None,
        device: str = "cpu",
        merge: bool = True,
        max_prompt_tokens: int = 2048,
        max_new_tokens: int = 512,
    ) -> LlmBackend:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        adapter_dir: Path | None = None
        if (path / "adapter_config.json").exists() and not (path / "config.json").exists():
            if base_dir is None:
                raise ValueError(f"{path} is a bare LoRA adapter and no base model directory is configured")
            adapter_dir, weights_dir = path, Path(base_dir)
        else:
            weights_dir = path
            if (path / ADAPTER_SUBDIR / "adapter_config.json").exists():
                adapter_dir = path / ADAPTER_SUBDIR
        tokenizer_dir = path if (path / "tokenizer_config.json").exists() else weights_dir
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        model = AutoModelForCausalLM.from_pretrained(str(weights_dir), dtype=torch.float32)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir))
            if merge:
                model = model.merge_and_unload()
        model.to(device).eval()
        return cls(
            model,
            tokenizer,
            max_prompt_tokens=max_prompt_tokens,
            max_new_tokens=max_new_tokens,
            adapter=str(adapter_dir) if adapter_dir else None,
        )

    # --- request handling ---------------------------------------------------------------------

    def prompt_ids(self, prompt: str | None, messages: list[dict] | None) -> list[int]:
        """Token ids of the prompt: raw text as is, chat messages through the chat template."""
        if (prompt is None) == (messages is None):
            raise GenerationInputError("give exactly one of text_input (a prompt) or messages (chat)")
        if messages is not None:
            _check_messages(messages)
            if not getattr(self.tokenizer, "chat_template", None):
                raise GenerationInputError("this model has no chat template: send text_input instead")
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            if not prompt:
                raise GenerationInputError("text_input is empty")
            ids = self.tokenizer(prompt)["input_ids"]
        if len(ids) > self.max_prompt_tokens:
            raise GenerationInputError(f"prompt has {len(ids)} tokens, more than the limit of {self.max_prompt_tokens}")
        return list(ids)

    def check_params(self, params: GenerationParams) -> None:
        """This server's own limit; types and the bounds every model shares are GenerationParams' checks."""
        if not 1 <= params.max_tokens <= self.max_new_tokens:
            raise GenerationInputError(f"max_tokens must be between 1 and {self.max_new_tokens}")

    def stream(
        self, ids: list[int], params: GenerationParams, cancel: threading.Event | None = None
    ) -> Iterator[TokenEvent]:
        """Generate token by token (KV cache); yields text deltas, the last event has finish_reason."""
        import torch

        device = self.model.device
        # the sampling generator lives where the logits are (torch.multinomial refuses a CPU generator for CUDA)
        generator = torch.Generator(device=device).manual_seed(params.seed) if params.seed is not None else None
        generated: list[int] = []
        emitted = ""
        finish = "length"
        input_ids = torch.tensor([ids], device=device)
        past = None
        with torch.inference_mode():
            for _ in range(params.max_tokens):
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                out = self.model(input_ids=input_ids, past_key_values=past, use_cache=True)
                past = out.past_key_values
                next_id = _sample(out.logits[0, -1], params, generator)
                if next_id in self.eos_ids:
                    finish = "stop"
                    break
                generated.append(next_id)
                input_ids = torch.tensor([[next_id]], device=device)
                text = self.tokenizer.decode(generated, skip_special_tokens=True)
                cut = _first_stop(text, params.stop)
                if cut is not None:
                    text, finish = text[:cut], "stop"
                    if len(text) > len(emitted):
                        yield TokenEvent(text[len(emitted) :], None, len(ids), len(generated))
                    emitted = text
                    break
                safe = len(text) - _held_back(text, params.stop)
                if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                    safe = min(safe, len(text) - 1)
                delta = text[len(emitted) : safe] if safe > len(emitted) else ""
                emitted += delta
                yield TokenEvent(delta, None, len(ids), len(generated))
            else:
                text = self.tokenizer.decode(generated, skip_special_tokens=True)
                if len(text) > len(emitted):
                    yield TokenEvent(text[len(emitted) :], None, len(ids), len(generated))
        yield TokenEvent("", finish, len(ids), len(generated))


def _check_messages(messages: list[dict]) -> None:
    if not isinstance(messages, list) or not messages:
        raise GenerationInputError("messages must be a non-empty JSON list of {role, content}")
    for m in messages:
        if (
            not isinstance(m, dict)
            or m.get("role") not in {"system", "user", "assistant"}
            or not isinstance(m.get("content"), str)
        ):
            raise GenerationInputError(f"bad chat message {json.dumps(m)[:80]}: need role and string content")


def _sample(logits, params: GenerationParams, generator) -> int:
    import torch

    if params.temperature == 0:
        return int(torch.argmax(logits))
    logits = logits.float() / params.temperature
    if params.top_k > 0:
        k = min(params.top_k, logits.shape[-1])
        threshold = torch.topk(logits, k).values[-1]
        logits = torch.where(logits < threshold, torch.full_like(logits, float("-inf")), logits)
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < params.top_p
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs / probs.sum(), 1, generator=generator))


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters could still become a stop string (not emitted yet)."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                longest = max(longest, n)
                break
    return longest
