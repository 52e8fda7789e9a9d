# syntax=docker/dockerfile:1.7
# The image of every service: one file, the service chosen by build arguments. Build from the repository root:
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=ingest --build-arg PORT=8101 -t twin-ingest .
# skaffold.yaml and docker-compose.yml pass the arguments of each service:
#   SERVICE          the folder under services/; its console script twin-<SERVICE> is the entrypoint
#   PORT             the service's TWIN_HTTP_PORT (its settings default)
#   HEALTH_PATH      what HEALTHCHECK probes (default /healthz)
#   TORCH_INDEX_URL  for services that need torch: the wheel index to take it from (the CPU index by default in
#                    skaffold and compose; the gpu profile passes a CUDA one); empty: no separate torch step
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG TORCH_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# uv (the installer the repository pins) honours requirements.lock as constraints and overrides.txt
RUN pip install uv==0.13.9 && python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH VIRTUAL_ENV=/opt/venv UV_NO_CACHE=1
WORKDIR /src
COPY requirements.lock overrides.txt ./
# torch first, at the locked version, from its own index (the PyPI wheel pulls CUDA libraries, several GB)
RUN if [ -n "${TORCH_INDEX_URL}" ]; then \
      uv pip install --python /opt/venv/bin/python --index-url "${TORCH_INDEX_URL}" "$(grep '^torch==' requirements.lock)"; \
    fi
COPY docker/local_packages.py docker/local_packages.py
COPY libs libs
COPY services/${SERVICE} services/${SERVICE}
# the service and the repository packages it declares (docker/local_packages.py), not editable, their
# dependencies held to requirements.lock
RUN uv pip install --python /opt/venv/bin/python -c requirements.lock --overrides overrides.txt \
      $(python docker/local_packages.py "${SERVICE}") \
 && ln -s "/opt/venv/bin/twin-${SERVICE}" /opt/venv/bin/twin-service

FROM ${PYTHON_IMAGE}
ARG SERVICE
ARG PORT
ARG HEALTH_PATH=/healthz
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TWIN_HTTP_HOST=0.0.0.0 \
    TWIN_HTTP_PORT=${PORT} \
    TWIN_OTEL_SPANS_FILE=/tmp/telemetry/spans.jsonl \
    IMAGE_HEALTH_PATH=${HEALTH_PATH}
# /var/lib/twin: the data folder a volume can be mounted on (compose's named volumes take its owner)
RUN groupadd --system --gid 10001 twin \
 && useradd --system --uid 10001 --gid twin --home-dir /home/twin --create-home twin \
 && install -d -o 10001 -g 10001 /var/lib/twin
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/twin
EXPOSE ${PORT}
# model-loading services take a while to start: failures only count after the start period
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['TWIN_HTTP_PORT'] + os.environ['IMAGE_HEALTH_PATH'], timeout=2)"]
ENTRYPOINT ["twin-service"]
