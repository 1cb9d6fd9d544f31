# One image for every Andon process; the command picks which (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY andon andon
COPY control control
COPY simulator simulator
COPY bench bench
RUN pip install --no-cache-dir -c requirements.lock . && useradd --create-home andon
USER andon
ENV ANDON_DATA_DIR=/var/lib/andon
EXPOSE 8080 4840
CMD ["andon", "up", "--host", "0.0.0.0"]
