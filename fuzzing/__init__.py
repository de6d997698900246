"""Fuzzing of audio intake and the HTTP surface: a corpus of hostile uploads, an atheris target, a gateway runner."""
