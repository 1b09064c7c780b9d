"""The HTTP edge: middlewares, problem documents and request handlers."""
