"""The app served for real: uvicorn in a thread on 127.0.0.1 and a free port."""

from __future__ import annotations

import socket
import threading
import time

from cocon.settings import Settings
from cocon.web import create_app


class LiveServer:
    """The app served by uvicorn in a thread on 127.0.0.1."""

    def __init__(self, database_url: str, **settings: object) -> None:
        import uvicorn

        self.database_url = database_url
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        host, port = self.socket.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            create_app(Settings(database_url=database_url, **settings)),
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start under uvicorn")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
