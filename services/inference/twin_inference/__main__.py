"""Entry point of the inference service: `twin-inference` or `python -m twin_inference`.

Serves twin-embed, twin-rerank and twin-llm over the V2 protocol (REST on TWIN_HTTP_PORT, gRPC on
TWIN_GRPC_PORT, both on TWIN_HTTP_HOST), loading versions from the MLflow registry by alias.
"""

from twin_common.service import bootstrap

from twin_inference.app import serve
from twin_inference.settings import InferenceSettings


def main() -> None:
    settings = InferenceSettings()
    bootstrap(settings)
    serve(settings)


if __name__ == "__main__":
    main()
