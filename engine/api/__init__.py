"""The HTTP API: the ASGI app and its routes, the OpenAPI document, the models it serves from."""
