"""HTTP transport: FastAPI routes, dependencies, middleware and error handlers."""
