"""The REST service (FastAPI): routers, request and response models."""
