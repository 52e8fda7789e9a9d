"""Triton python backend: twin-rerank (query, passage BYTES [-1, 1] -> score FP32 [-1, 1])."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils
from twin_inference.encoders import RerankBackend


def _strings(request, name):
    return [v.decode("utf-8") for v in pb_utils.get_input_tensor_by_name(request, name).as_numpy().reshape(-1)]


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        model_dir = config["parameters"]["MODEL_DIR"]["string_value"]
        self.backend = RerankBackend.load(model_dir, device=f"cuda:{args['model_instance_device_id']}")

    def execute(self, requests):
        pairs_per_request = [list(zip(_strings(r, "query"), _strings(r, "passage"))) for r in requests]
        scores = self.backend.score([p for pairs in pairs_per_request for p in pairs])
        responses, start = [], 0
        for pairs in pairs_per_request:
            part = scores[start : start + len(pairs)].astype(np.float32).reshape(-1, 1)
            start += len(pairs)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("score", part)]))
        return responses
