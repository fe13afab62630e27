"""Sessions: a socket's protocol (handshake, access, limits, close codes) over the transport
seam of :mod:`collab.sessions.transport`."""
