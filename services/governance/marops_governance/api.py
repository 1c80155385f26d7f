"""HTTP API of the governance service: thin routers over the use cases."""

from fastapi import APIRouter

router = APIRouter()
