"""The service as uvicorn starts it (`graphrec serve`): the app of the settings in the environment, read when
the app is built (the serve command sets GRAPHREC_SERVICE_URL just before)."""

from __future__ import annotations

from fastapi import FastAPI

from graphrec.serving.app import create_app as create_service_app
from graphrec.settings import Settings


def create_app() -> FastAPI:
    return create_service_app(Settings.from_env())
