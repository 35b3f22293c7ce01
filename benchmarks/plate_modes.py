"""Whether asynchronous inference pays for the plate detector on this machine (``benchmarks plate``).

The gate compiles the text detector once, for latency (one stream, every core on one request), and
runs it synchronously: one pass per live frame. Where could asynchronous requests pay? Only where
one frame needs several passes, the thorough closer look (4 tiles at zoom 1.5). Measured here, in a
process of its own so that its resident memory is the detector's alone:

- ``modes_pass_ms``: one pass, latency-compiled (the live path);
- ``modes_tiles_sync_ms``: the 4 tiles one after another on that model (what the gate does);
- ``modes_tiles_async_ms``: the 4 tiles through an ``AsyncInferQueue`` of 2 requests on the same model;
- ``modes_streams_pass_ms`` / ``modes_streams_tiles_async_ms``: the same on a model compiled for
  throughput with 2 streams (each request on a share of the cores);
- ``modes_streams_model_mb``: resident memory a second, 2-stream detector would add beside the first.

Run alone: ``python -m benchmarks.plate_modes [REPEATS]`` prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import memory_mb

TILES = 4
#: The detector's compiled input at its default 640 px (``TextDetector().landscape``, 16:9).
SHAPE = (1, 3, 352, 640)


def _p50_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1000, 1)


def measure(repeats: int = 15) -> dict[str, Any]:
    import openvino as ov

    from edge.plate.detector import default_model

    x = np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)
    core = ov.Core()
    ir = core.read_model(str(default_model()))
    ir.reshape(list(SHAPE))

    def tiles(queue: Any) -> None:
        for _ in range(TILES):
            queue.start_async({0: x})
        queue.wait_all()

    latency = core.compile_model(ir, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    request = latency.create_infer_request()
    out: dict[str, Any] = {"modes_pass_ms": _p50_ms(lambda: request.infer({0: x}), repeats)}
    out["modes_tiles_sync_ms"] = _p50_ms(lambda: [request.infer({0: x}) for _ in range(TILES)], repeats)
    queue = ov.AsyncInferQueue(latency, 2)
    out["modes_tiles_async_ms"] = _p50_ms(lambda: tiles(queue), repeats)
    before = memory_mb()["VmRSS"]
    streams = core.compile_model(ir, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2})
    streams_request = streams.create_infer_request()
    streams_queue = ov.AsyncInferQueue(streams, 2)
    out["modes_streams_pass_ms"] = _p50_ms(lambda: streams_request.infer({0: x}), repeats)
    out["modes_streams_tiles_async_ms"] = _p50_ms(lambda: tiles(streams_queue), repeats)
    out["modes_streams_model_mb"] = round(memory_mb()["VmRSS"] - before, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 15)))
