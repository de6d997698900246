"""What operators see: metrics (the gateway's own merged with Triton's) and readiness."""
