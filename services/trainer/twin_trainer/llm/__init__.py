"""The author's twin LLM: dataset, curation, LoRA SFT and DPO, evaluation gate, registration."""
