"""What both HTTP layers (the device API in ``transport``, the REST and WebSocket APIs in
``api``) share: ASGI types and body helpers, the uvicorn protocol with the connection's limits,
draining unread bodies, trusted proxies, OpenAPI declarations, and the one mapping of domain
errors to HTTP statuses."""
