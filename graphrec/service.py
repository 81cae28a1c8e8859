"""The service as uvicorn starts it (`graphrec serve`): the app of the settings in the environment."""

from __future__ import annotations

from fastapi import FastAPI

from graphrec.serving.app import create_app as create_service_app
from graphrec.settings import get_settings


def create_app() -> FastAPI:
    return create_service_app(get_settings())
