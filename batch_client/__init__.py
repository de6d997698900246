"""The batch client: `python -m batch_client transcribe FILE_OR_DIR...` sends audio files to the gateway over HTTP."""
