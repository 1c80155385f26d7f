"""``marops-gateway``: serve the console and the APIs on one port (GATEWAY_HTTP_PORT, 8000)."""

from __future__ import annotations

import uvicorn

from .app import create_app
from .settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, access_log=False,
                log_level="info")


if __name__ == "__main__":
    main()
