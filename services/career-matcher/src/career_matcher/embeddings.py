"""Static text embeddings without torch: wordllama's bundled weights (256-d, avg pooled).

``WordLlama.load()`` in wordllama 0.4.0.post1 looks for its tokenizer in a directory
called ``tokenizer/`` while the wheel ships ``tokenizers/``, and would then try to
download it. We build the inference object from the bundled files directly, so this never
touches the network.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


class WordLlamaEmbedder:
    """L2-normalised float32 vectors from wordllama's bundled static embeddings."""

    def __init__(self) -> None:
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = Path(wordllama.__file__).parent
        tokenizer = Tokenizer.from_file(str(root / TOKENIZER))
        with safe_open(str(root / WEIGHTS), framework="np", device="cpu") as f:
            weights = f.get_tensor("embedding.weight")
        self._model: Any = WordLlamaInference(weights, tokenizer, binary=False)
        self._lock = threading.Lock()  # the tokenizer is not documented as thread-safe

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 256), dtype=np.float32)
        with self._lock:
            vecs = self._model.embed(list(texts), norm=True)
        return np.asarray(vecs, dtype=np.float32)


@lru_cache(maxsize=1)
def load_embedder() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


def occupation_text(occ: dict[str, Any]) -> str:
    """The text an occupation's overall vector is computed from."""
    return f"{occ['title']}. {occ.get('description', '')}"
