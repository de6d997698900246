"""The development stack: Triton and the gateway as child processes on free loopback ports, for tests,
benchmarks, load tests and fuzzing (production runs `python -m gateway` and Triton on their own)."""
