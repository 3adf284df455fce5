"""Generated protobuf and gRPC modules (built from proto/ by `make proto`)."""
