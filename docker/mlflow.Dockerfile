# syntax=docker/dockerfile:1.7
# The MLflow server of the chart and of compose (skaffold artifact twin-mlflow): MLflow from requirements.lock (the
# version the local stack and every client run), its basic-auth app and the PostgreSQL driver
# (docker/mlflow-requirements.txt), running as uid 10001 (the upstream image runs as root). Build from the
# repository root:
#   docker build -f docker/mlflow.Dockerfile -t twin-mlflow .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1
RUN pip install uv==0.13.9 && python -m venv /opt/venv
WORKDIR /src
COPY requirements.lock docker/mlflow-requirements.txt ./
RUN uv pip install --python /opt/venv/bin/python -c requirements.lock -r mlflow-requirements.txt

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 mlflow \
 && useradd --system --uid 10001 --gid mlflow --home-dir /home/mlflow --create-home mlflow \
 && install -d -o 10001 -g 10001 /mlflow
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /mlflow
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2)"]
ENTRYPOINT ["mlflow"]
CMD ["server", "--host=0.0.0.0", "--port=5000"]
