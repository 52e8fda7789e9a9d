"""Triton python backend: twin-llm (text_input or messages, sampling_parameters -> text_output,
finish_reason, prompt_tokens, completion_tokens), the same generation code as the KServe server."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils
from twin_inference.generation import GenerationInputError, LlmBackend
from twin_inference_client.schema import GenerationParams


def _string(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)[0].decode("utf-8")


def _column(value, dtype=np.object_):
    return np.array([[value]], dtype=dtype)


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"])["parameters"]
        self.backend = LlmBackend.load(
            params["MODEL_DIR"]["string_value"],
            device=f"cuda:{args['model_instance_device_id']}",
            max_prompt_tokens=int(params["MAX_PROMPT_TOKENS"]["string_value"]),
            max_new_tokens=int(params["MAX_NEW_TOKENS"]["string_value"]),
        )

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        try:
            messages = _string(request, "messages")
            raw = _string(request, "sampling_parameters")
            params = GenerationParams.from_mapping(json.loads(raw) if raw else {})
            self.backend.check_params(params)
            ids = self.backend.prompt_ids(_string(request, "text_input"), json.loads(messages) if messages else None)
            text, last = "", None
            for event in self.backend.stream(ids, params):
                text += event.text
                last = event
        except (GenerationInputError, ValueError, TypeError) as exc:
            return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(exc)))
        return pb_utils.InferenceResponse(
            [
                pb_utils.Tensor("text_output", _column(text.encode("utf-8"))),
                pb_utils.Tensor("finish_reason", _column((last.finish_reason or "").encode("utf-8"))),
                pb_utils.Tensor("prompt_tokens", _column(last.prompt_tokens, np.int32)),
                pb_utils.Tensor("completion_tokens", _column(last.completion_tokens, np.int32)),
            ]
        )
