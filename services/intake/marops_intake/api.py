"""HTTP API of the intake service: thin routers over the use cases."""

from fastapi import APIRouter

router = APIRouter()
