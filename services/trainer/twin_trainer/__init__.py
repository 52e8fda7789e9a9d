"""Datasets, fine-tuning (LoRA SFT, DPO, cross-encoder reranker) and MLflow registration."""
