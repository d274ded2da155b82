# The dashboard as a container. Same steps as `make run` (Makefile): install
# requirements.txt, build the demo run (`python -m core demo`), serve app.py on 8501.
# No Docker engine runs on the project's machines, so keep these steps in step with the
# Makefile by hand.
#
# CPU hosts (default):   docker build -t tactical-states .
# GPU hosts:             docker build --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04 -t tactical-states:cuda .
#   (any base with Python 3.11 or where apt can install it; run with `--gpus all`)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    TACTICAL_DATA_ROOT=/app/data \
    TACTICAL_RUNS_ROOT=/app/runs

# curl for the health check; Python 3.11 + venv where the base image lacks them (CUDA bases).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && if ! command -v python3.11 >/dev/null; then \
         apt-get install -y --no-install-recommends python3.11 python3.11-venv; \
       fi \
    && rm -rf /var/lib/apt/lists/*

# A virtual environment, as `make run` uses .venv: the same pip, on any base image.
RUN python3.11 -m venv /opt/venv && /opt/venv/bin/python -m pip install --upgrade pip

RUN useradd --create-home --uid 1000 analyst
WORKDIR /app

COPY requirements.txt .
RUN python -m pip install -r requirements.txt

COPY --chown=analyst:analyst . .
RUN mkdir -p /app/data /app/runs && chown -R analyst:analyst /app/data /app/runs
USER analyst

# Build the demo features and the default run into the image, as `make run` does, and
# compile UMAP's numba code into /app/runs/_cache/numba so no job pays it (issue 13).
RUN python -m core demo && python -m core warmup

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl --fail --silent http://localhost:8501/_stcore/health || exit 1

CMD ["python", "-m", "streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
