"""Running Triton: the launcher for the bundled tritonserver, and helpers for our python-backend models."""
