"""Transports: bytes in and out of a socket. The uvicorn fast path is :mod:`collab.wsserver`
(``collab serve``); the portable ASGI path is :mod:`collab.transports.asgi`."""
