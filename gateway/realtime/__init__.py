"""Live transcription over WebSocket: OpenAI's realtime transcription protocol (docs/api.md)."""
