"""The trainer's reranker job: a cross-encoder fine-tuned on (query, passage) pairs with mined hard negatives."""
