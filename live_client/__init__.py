"""A client of the gateway's live transcription WebSocket (/v1/realtime)."""
