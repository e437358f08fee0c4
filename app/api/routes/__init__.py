"""Routers, one module per resource; `app.api.app.create_app` includes them."""
