"""Triton python backend: twin-embed (text BYTES [-1, 1] -> embedding FP32 [-1, dim])."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils
from twin_inference.encoders import EmbedBackend


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        model_dir = config["parameters"]["MODEL_DIR"]["string_value"]
        self.backend = EmbedBackend.load(model_dir, device=f"cuda:{args['model_instance_device_id']}")

    def execute(self, requests):
        texts_per_request = [
            [t.decode("utf-8") for t in pb_utils.get_input_tensor_by_name(r, "text").as_numpy().reshape(-1)]
            for r in requests
        ]
        vectors = self.backend.embed([t for texts in texts_per_request for t in texts])
        responses, start = [], 0
        for texts in texts_per_request:
            part = vectors[start : start + len(texts)].astype(np.float32)
            start += len(texts)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("embedding", part)]))
        return responses
