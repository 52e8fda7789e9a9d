"""A bounded memory of values computed per text (vectors, injection scores...), filled in batches: the texts it does
not hold are computed together, in one call, and the least recently used ones are forgotten beyond `size`.
Thread-safe (the gateway computes on worker threads); the computation itself runs outside the lock."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")


class TextMemo(Generic[V]):
    def __init__(self, size: int):
        self._memo: OrderedDict[str, V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def many(self, texts: Sequence[str], compute: Callable[[list[str]], Sequence[V]]) -> list[V]:
        """The value of each text, in order; `compute(texts) -> values` is called once for the texts not held."""
        with self._lock:
            known = {t: self._memo[t] for t in texts if t in self._memo}
            for text in known:
                self._memo.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            values = compute(missing)
            with self._lock:
                for text, value in zip(missing, values, strict=True):
                    known[text] = value
                    self._memo[text] = value
                    self._memo.move_to_end(text)
                while len(self._memo) > self._size:
                    self._memo.popitem(last=False)
        return [known[t] for t in texts]
