"""Models in memory, least recently used first out: the server keeps only the models in use.

What it is: `ModelCache(max_bytes)`, keyed by content hash: `get(key, load)` returns the model,
loading it (from the store) on a miss; `put(key, model)` keeps one just made. When the bytes of
the kept models pass `max_bytes`, the least recently used leave (the newest always stays, even
alone over the limit). A model a page still holds stays alive until the page lets go; the cache
only stops holding it. `pin(key, model)` keeps one for good (the bundled model: every desk has it).
What it is not: storage (`llm_core.lab.store`), or a copy: every desk holding the same hash gets
the same object, so models are never trained in place (pages train copies).

    >>> import torch
    >>> cache = ModelCache(max_bytes=100)
    >>> cache.put("a", torch.nn.Linear(4, 4)); cache.put("b", torch.nn.Linear(4, 4))  # 80 bytes each
    >>> sorted(cache.keys()), cache.get("a", lambda: torch.nn.Linear(4, 4)) is not None, sorted(cache.keys())
    (['b'], True, ['a'])
"""

from __future__ import annotations

import threading
from collections import OrderedDict


def model_bytes(model) -> int:
    """Bytes of a model's parameters and buffers as they sit in memory."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


class ModelCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.lock = threading.RLock()
        self.models: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self.pinned: dict[str, object] = {}
        self.loads = 0  # misses that loaded from disk (a figure for the benchmark)

    def get(self, key: str, load):
        with self.lock:
            if key in self.pinned:
                return self.pinned[key]
            if key in self.models:
                self.models.move_to_end(key)
                return self.models[key][0]
        model = load()  # outside the lock: another desk's load need not wait for this one
        self.loads += 1
        self.put(key, model)
        return model

    def put(self, key: str, model) -> None:
        with self.lock:
            if key in self.pinned:
                return
            self.models[key] = (model, model_bytes(model))
            self.models.move_to_end(key)
            self._evict()

    def pin(self, key: str, model) -> None:
        with self.lock:
            self.models.pop(key, None)
            self.pinned[key] = model

    def _evict(self) -> None:
        while len(self.models) > 1 and self.bytes() > self.max_bytes:
            self.models.popitem(last=False)

    def bytes(self) -> int:
        with self.lock:
            return sum(size for _, size in self.models.values())

    def keys(self) -> list[str]:
        with self.lock:
            return list(self.models)

    def __contains__(self, key: str) -> bool:
        with self.lock:
            return key in self.models or key in self.pinned
