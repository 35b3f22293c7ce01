"""HTTP JSON API of the central service (FastAPI; OpenAPI description at /openapi.json)."""
