"""HTTP API of the metrics service: thin routers over the use cases."""

from fastapi import APIRouter

router = APIRouter()
