"""HTTP and WebSocket endpoints: thin adapters from FastAPI to the services."""
