"""collab's side-by-side benchmark against the peer servers (run it with ``./scripts/bench``).

Modules: ``yproto`` (y-protocols and Yjs v1 update parsing), ``wsclient`` (a lean WebSocket
client), ``traces`` (updates precomputed from the editing traces), ``load`` (the load generator,
run as its own process), ``servers`` (installing, starting and measuring every server),
``report`` (tables, JSON and charts) and ``run`` (the orchestrator behind ``scripts/bench``).
"""
