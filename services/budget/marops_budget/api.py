"""HTTP API of the budget service: thin routers over the use cases."""

from fastapi import APIRouter

router = APIRouter()
