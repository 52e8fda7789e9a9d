"""Settings of one twin training run: dataset, curation, LoRA SFT, DPO, evaluation and the gate.

The defaults are the reference recipe (LoRA r=32, alpha=32, dropout 0 on every linear projection; SFT lr 3e-4
linear, 3 epochs, batch 2 x gradient accumulation 8, max length 2048; DPO beta 0.5, lr 2e-6, 1 epoch). Runs on a
small CPU budget override them explicitly (the CLI flags, the integration test) and the run logs what it used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal


@dataclass(frozen=True)
class LoraSettings:
    r: int = 32
    alpha: int = 32
    dropout: float = 0.0
    target_modules: tuple[str, ...] | str = "all-linear"


@dataclass(frozen=True)
class SftSettings:
    learning_rate: float = 3e-4
    lr_scheduler: str = "linear"
    epochs: float = 3.0
    batch_size: int = 2
    grad_accumulation: int = 8
    max_length: int = 2048
    max_steps: int = -1  # > 0 caps the optimizer steps (tests, smoke runs)
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    seed: int = 13


@dataclass(frozen=True)
class DpoSettings:
    enabled: bool = True
    beta: float = 0.5
    learning_rate: float = 2e-6
    lr_scheduler: str = "linear"
    epochs: float = 1.0
    batch_size: int = 2
    grad_accumulation: int = 8
    max_length: int = 2048
    max_steps: int = -1
    seed: int = 13


@dataclass(frozen=True)
class DatasetSettings:
    heldout_fraction: float = 0.2  # of the author's documents, by document, before anything else
    min_heldout_documents: int = 1
    instruction_writer: Literal["template", "llm"] = "template"
    preference_pairs: int = 64  # (prompt, author's text, base model's answer) triples drawn from the curated rows
    rejected_max_new_tokens: int = 128  # length of the base model's answers
    include_feedback: bool = True  # FeedbackGiven events of the tenant on twin.feedback
    feedback_min_similarity: float = 0.5  # a thumbs-down without a correction needs an author's passage this close
    max_sft_rows: int = 0  # > 0: a deterministic sample of the curated rows (CPU budgets)
    seed: int = 13


@dataclass(frozen=True)
class CurationSettings:
    min_words: int = 20
    max_words: int = 2000
    languages: tuple[str, ...] = ()  # empty: the author's majority language
    max_boilerplate_ratio: float = 0.3  # share of lines that are share prompts, banners, navigation
    max_symbol_ratio: float = 0.25  # code/text balance for prose: symbols among non-space characters
    min_alpha_ratio: float = 0.6
    near_dup_threshold: float = 0.8  # Jaccard estimated by MinHash LSH over word 5-gram shingles
    near_dup_num_perm: int = 128
    shingle_words: int = 5
    # a training row sharing one word 13-gram (GPT-3's choice) with any evaluation item is dropped; 8 flagged every
    # Federalist essay's salutation ("To the People of the State of New York:")
    decontamination_ngram: int = 13
    decontamination_min_overlap: int = 1


@dataclass(frozen=True)
class EvalSettings:
    max_heldout_passages: int = 64  # held-out passages scored for perplexity
    ppl_max_length: int = 512
    generations: int = 16  # held-out questions answered by each model (style, similarity, groundedness)
    max_new_tokens: int = 128
    repetition_penalty: float = 1.2
    rag_top_k: int = 3  # passages of the author's training material put in the prompt as context
    judge: bool = True  # LLM-as-judge both orders when a judge route is configured


@dataclass(frozen=True)
class GateSettings:
    primary: str = "heldout_ppl"  # lower is better
    tolerance: float = 0.05  # the other metrics may not drop by more than this (absolute, they lie in [0, 1])
    guarded: tuple[str, ...] = ("style_score", "embedding_similarity", "groundedness")
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"


@dataclass(frozen=True)
class TwinRunConfig:
    author: str
    tenant: str = "default"
    registered_name: str = "twin-llm"
    experiment: str = "twin-llm"
    contrast_authors: tuple[str, ...] = ()  # authors of the same tenant whose text the style judge contrasts
    base_model: str = "smollm2"  # "smollm2" (the bundled SmolLM2-135M-Instruct) or a local model directory
    quantization: Literal["none", "4bit"] = "none"  # QLoRA on a GPU with bitsandbytes installed
    merge_adapter: bool = False  # register the merged weights instead of the LoRA adapter
    publish: bool = True  # announce the registration on twin.models.registered
    trigger: str = "manual"  # why this run started (recorded in the run)
    lora: LoraSettings = field(default_factory=LoraSettings)
    sft: SftSettings = field(default_factory=SftSettings)
    dpo: DpoSettings = field(default_factory=DpoSettings)
    dataset: DatasetSettings = field(default_factory=DatasetSettings)
    curation: CurationSettings = field(default_factory=CurationSettings)
    evaluation: EvalSettings = field(default_factory=EvalSettings)
    gate: GateSettings = field(default_factory=GateSettings)

    def as_params(self) -> dict[str, Any]:
        """Flat `section.key` parameters for MLflow."""
        params: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "__dataclass_fields__"):
                params.update({f"{f.name}.{k}": _param(v) for k, v in asdict(value).items()})
            else:
                params[f.name] = _param(value)
        return params


def _param(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return value
