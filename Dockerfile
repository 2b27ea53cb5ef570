# Mirrors README.md exactly: `make setup`, then the main job.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app/main
COPY . /app/main
# The corpus and spec live beside the project as ../shared, as on the developers' machines.
RUN make setup
CMD ["make", "run"]
