"""A ``.tflite`` network run by OpenCV's DNN module, with TFLite's NHWC layout at both ends.

OpenCV imports the TFLite graph into its own NCHW engine: inputs go in as NCHW and
4-D outputs come back as NCHW. This wrapper hides that, so callers feed and read the
tensors exactly as the model card describes them (NHWC), and the per-output names are
the graph's own. One forward at a time: OpenCV nets are not thread-safe.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from ..errors import ChoreoError


class TFLiteNet:
    """A loaded network; ``run(x)`` takes one (1, H, W, C) float32 tensor and returns {output name: array}."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not hasattr(cv2.dnn, "readNetFromTFLite"):
            raise ChoreoError(f"OpenCV {cv2.__version__} cannot read TFLite models (needs OpenCV >= 4.8). "
                              "Run `pip install -U opencv-python-headless`.")
        try:
            self._net = cv2.dnn.readNetFromTFLite(str(self.path))
        except cv2.error as error:
            raise ChoreoError(f"{self.path} is not a TFLite model OpenCV can read ({str(error).strip()[-200:]}). "
                              "Fetch the models again with `python -m choreo.pose.mediapipe_models`.") from error
        self.output_names: tuple[str, ...] = tuple(self._net.getUnconnectedOutLayersNames())
        self._lock = threading.Lock()

    def run(self, tensor_nhwc: np.ndarray) -> dict[str, np.ndarray]:
        tensor = np.ascontiguousarray(np.asarray(tensor_nhwc, np.float32).transpose(0, 3, 1, 2))
        with self._lock:
            self._net.setInput(tensor)
            outputs = self._net.forward(list(self.output_names))
        return {name: out.transpose(0, 2, 3, 1) if out.ndim == 4 else out
                for name, out in zip(self.output_names, outputs)}
