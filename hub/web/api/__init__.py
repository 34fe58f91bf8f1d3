"""The REST API under /api/v1: its routes, the agent WebSocket, serializers and the OpenAPI document."""
