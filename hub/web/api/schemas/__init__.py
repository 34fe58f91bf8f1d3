"""The response models of /api/v1, one module per area: what each answer carries, stated once.

Handlers build them from ORM rows (``from_attributes``) and answer with :func:`.base.respond`; the OpenAPI
document (:mod:`hub.web.api.openapi`) is generated from the same classes, so the two cannot drift apart.
"""
