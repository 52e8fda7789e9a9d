"""LoRA SFT then DPO with TRL + PEFT, on CPU (the bundled SmolLM2-135M) or a GPU (QLoRA with bitsandbytes).

- SFT: conversational prompt/completion rows (chat template, loss on the completion only), a fresh LoRA adapter.
- DPO: continues the SFT adapter; TRL copies it as a frozen "ref" adapter, so the reference policy is the SFT
  model (not the base). Only the trained adapter is saved.
- Each saved adapter directory carries the tokenizer and chat template: the inference service loads it as a bare
  adapter on top of the same base (twin_inference.generation.LlmBackend), or merged weights by setting.
- Metrics of every logged step (loss, grad norm, learning rate; DPO rewards, margins, accuracies) go to an
  `on_log` callback (MLflow and the progress display).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin_trainer.llm.config import DpoSettings, LoraSettings, SftSettings

log = logging.getLogger(__name__)

StepLog = Callable[[str, int, int, dict[str, float]], None]  # (phase, step, total steps, metrics)
MODELS_CACHE = Path.home() / ".cache" / "twin" / "models"  # the inference service's default models_cache


@dataclass
class PhaseResult:
    adapter_dir: Path
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps if self.steps else math.nan

    def last(self, key: str) -> float | None:
        values = [h[key] for h in self.history if key in h]
        return values[-1] if values else None

    def first(self, key: str) -> float | None:
        values = [h[key] for h in self.history if key in h]
        return values[0] if values else None


def base_model_dir(base_model: str, cache_root: Path = MODELS_CACHE) -> Path:
    """The base model's Hugging Face directory: "smollm2" is the bundled SmolLM2-135M-Instruct, converted once
    into the same folder the inference service uses as the base of bare adapters."""
    if base_model == "smollm2":
        from twin_inference.smollm2 import smollm2_dir  # the one converter of the bundled GGUF file

        return smollm2_dir(cache_root)
    path = Path(base_model)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"base model {base_model!r} is neither 'smollm2' nor a model directory")
    return path


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def quantization_config(quantization: str):
    """BitsAndBytes 4-bit NF4 (QLoRA) on a GPU; None for full-precision LoRA."""
    if quantization == "none":
        return None
    if quantization != "4bit":
        raise ValueError(f"unknown quantization {quantization!r}: 'none' or '4bit'")
    import importlib.util

    if not cuda_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError("QLoRA (--quantization 4bit) needs a CUDA GPU and the bitsandbytes package")
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_model(model_dir: Path, quantization: str = "none"):
    import torch
    from transformers import AutoModelForCausalLM

    quant = quantization_config(quantization)
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = AutoModelForCausalLM.from_pretrained(str(model_dir), quantization_config=quant, device_map={"": 0})
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    dtype = torch.bfloat16 if cuda_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
    return model.to("cuda") if cuda_available() else model


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def lora_config(settings: LoraSettings):
    from peft import LoraConfig

    targets = settings.target_modules
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        bias="none",
        task_type="CAUSAL_LM",
    )


@dataclass(frozen=True)
class MemoryEstimate:
    weights_gib: float
    adapter_and_optimizer_gib: float
    activations_gib: float

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.adapter_and_optimizer_gib + self.activations_gib

    def describe(self) -> str:
        return (
            f"GPU memory estimate: {self.total_gib:.1f} GiB (weights {self.weights_gib:.1f}, LoRA + AdamW "
            f"{self.adapter_and_optimizer_gib:.2f}, activations {self.activations_gib:.1f})"
        )


def lora_parameters(hidden: int, intermediate: int, layers: int, kv_hidden: int, r: int) -> int:
    """LoRA parameters on every linear projection of a Llama-style block: r x (in + out) per projection."""
    per_layer = (
        r * (hidden + hidden)  # q
        + 2 * r * (hidden + kv_hidden)  # k, v
        + r * (hidden + hidden)  # o
        + 2 * r * (hidden + intermediate)  # gate, up
        + r * (intermediate + hidden)  # down
    )
    return per_layer * layers


def estimate_gpu_memory(
    n_params: int,
    hidden: int,
    intermediate: int,
    layers: int,
    kv_hidden: int,
    *,
    r: int,
    batch_size: int,
    max_length: int,
    quantization: str,
    gradient_checkpointing: bool = True,
) -> MemoryEstimate:
    """Weights (4-bit NF4 with double quantisation ~0.55 B/param, bf16 2 B), LoRA weights + grads + AdamW
    states in fp32 (16 B/param), activations (bf16; with checkpointing about two hidden states per layer and token
    kept, without it about 34 x hidden per layer and token, Korthikanti et al. 2022)."""
    gib = 1024**3
    weight_bytes = 0.55 if quantization == "4bit" else 2.0
    adapter = lora_parameters(hidden, intermediate, layers, kv_hidden, r) * 16
    tokens = batch_size * max_length
    per_token_layer = 2 * hidden * 2 if gradient_checkpointing else 34 * hidden
    activations = tokens * layers * per_token_layer + tokens * hidden * 2 * 4  # + logits-side buffers
    return MemoryEstimate(n_params * weight_bytes / gib, adapter / gib, activations / gib)


def estimate_for(model_dir: Path, lora: LoraSettings, batch_size: int, max_length: int, quantization: str):
    import json

    config = json.loads((model_dir / "config.json").read_text())
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv_hidden = hidden * config.get("num_key_value_heads", heads) // heads
    intermediate = config["intermediate_size"]
    vocab = config["vocab_size"]
    n_params = layers * (2 * hidden * hidden + 2 * hidden * kv_hidden + 3 * hidden * intermediate) + 2 * vocab * hidden
    return estimate_gpu_memory(
        n_params,
        hidden,
        intermediate,
        layers,
        kv_hidden,
        r=lora.r,
        batch_size=batch_size,
        max_length=max_length,
        quantization=quantization,
    )


def _metrics_callback(phase: str, on_log: StepLog | None, history: list[dict[str, float]]):
    from transformers import TrainerCallback

    class StepMetrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            numeric = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float) and k != "epoch"}
            if not numeric or "train_runtime" in numeric:
                return
            numeric["epoch"] = float(state.epoch or 0.0)
            history.append({"step": float(state.global_step), **numeric})
            if on_log is not None:
                on_log(phase, state.global_step, state.max_steps, numeric)

    return StepMetrics()


def _common_args(settings: SftSettings | DpoSettings, out_dir: Path) -> dict[str, Any]:
    gpu = cuda_available()
    return dict(
        output_dir=str(out_dir / "checkpoints"),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        max_length=settings.max_length,
        seed=settings.seed,
        bf16=gpu,
        use_cpu=not gpu,
        gradient_checkpointing=gpu,  # slow on CPU, where memory is not the limit for a 135M model
        logging_steps=1,
        logging_first_step=True,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _quiet(trainer) -> None:
    """Per-step lines come from our callback; the Trainer's own printer would repeat them as dicts."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def _save_adapter(model, tokenizer, target: Path, adapter_name: str = "default") -> Path:
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target), selected_adapters=[adapter_name])
    nested = target / adapter_name
    if adapter_name != "default" and nested.exists():  # PEFT nests non-default adapters; flatten
        for item in nested.iterdir():
            item.rename(target / item.name)
        nested.rmdir()
    tokenizer.save_pretrained(str(target))
    return target


def _train_and_save(trainer, tokenizer, out_dir: Path, history: list[dict[str, float]]) -> PhaseResult:
    _quiet(trainer)
    started = time.perf_counter()
    output = trainer.train()
    seconds = float(output.metrics.get("train_runtime", time.perf_counter() - started))
    adapter = _save_adapter(trainer.model, tokenizer, out_dir / "adapter")
    return PhaseResult(adapter, int(trainer.state.global_step), seconds, history)


def train_sft(
    model_dir: Path,
    rows: Sequence[dict],
    lora: LoraSettings,
    settings: SftSettings,
    out_dir: Path,
    *,
    quantization: str = "none",
    on_log: StepLog | None = None,
) -> PhaseResult:
    """LoRA SFT on conversational prompt/completion rows; the adapter (with tokenizer) in out_dir/adapter."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir, quantization)
    history: list[dict[str, float]] = []
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            **_common_args(settings, out_dir),
            warmup_steps=settings.warmup_ratio,  # transformers 5: a value below 1 is a fraction of the steps
            weight_decay=settings.weight_decay,
        ),
        train_dataset=Dataset.from_list(list(rows)),
        processing_class=tokenizer,
        peft_config=lora_config(lora),
        callbacks=[_metrics_callback("sft", on_log, history)],
    )
    return _train_and_save(trainer, tokenizer, out_dir, history)


def train_dpo(
    model_dir: Path,
    sft_adapter: Path,
    triples: Sequence[dict],
    settings: DpoSettings,
    out_dir: Path,
    *,
    quantization: str = "none",
    on_log: StepLog | None = None,
) -> PhaseResult:
    """DPO that continues the SFT adapter against a frozen copy of it (the reference policy)."""
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    tokenizer = load_tokenizer(model_dir)
    model = PeftModel.from_pretrained(load_model(model_dir, quantization), str(sft_adapter), is_trainable=True)
    history: list[dict[str, float]] = []
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(**_common_args(settings, out_dir), beta=settings.beta),
        train_dataset=Dataset.from_list(list(triples)),
        processing_class=tokenizer,
        callbacks=[_metrics_callback("dpo", on_log, history)],
    )
    return _train_and_save(trainer, tokenizer, out_dir, history)


def merge_adapter(model_dir: Path, adapter_dir: Path, target: Path) -> Path:
    """Base + adapter merged into one safetensors directory (what `merge_adapter=True` registers)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True  # training leaves it off; generation wants it
    target.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(target))
    load_tokenizer(adapter_dir).save_pretrained(str(target))
    return target
