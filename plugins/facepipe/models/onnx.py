"""onnxruntime sessions, shared by the ONNX detectors and embedders."""

from __future__ import annotations

from facepipe.core.config import process_settings


def _onnx_session(model, threads: int | None):
    """One intra-op thread by default: parallelism comes from the mapped shard tasks."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or process_settings().model_threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
