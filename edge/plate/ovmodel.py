"""One compiled OpenVINO model on the CPU with one inference request, shared by the plate models."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np


class CompiledModel:
    """Compiled once (at start-up, never per frame); :meth:`run` serialises callers on one request."""

    def __init__(self, model: Path, what: str, threads: int = 0):
        import openvino as ov  # imported here so modules that only need the data types stay light

        if not model.exists():
            raise FileNotFoundError(f"{what} model {model} is missing")
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(model)), "CPU", config)
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        """The first output for input ``x`` (a copy: the request's buffer is reused by the next call)."""
        with self._lock:
            self._request.infer({0: x})
            return self._request.get_output_tensor(0).data.copy()
