"""The REST API under /api/v1: its routes, the agent WebSocket, the response models (:mod:`.schemas`) and
the OpenAPI document generated from them (:mod:`.openapi`)."""
