"""A Lambda-compatible function service: the API's model and the runtime that runs handlers in worker processes."""
