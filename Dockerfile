# Mirrors README.md exactly: `make setup`, then the main job `make run` (the REST service and web page).
# Not built here (no Docker engine on the development machines):
#   docker build -t govmetrics . && docker run -p 8000:8000 govmetrics    # then open http://localhost:8000/
# Set-up needs the PyPI registry; at run time the service needs only the project and the pkuseg model.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app/main
COPY . /app/main
RUN make setup
# In a container the service must listen beyond loopback; every other setting keeps its README default.
ENV GOVMETRICS_HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --start-period=60s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["make", "run"]
