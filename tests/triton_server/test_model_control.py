"""Parsing the overrides the benchmark applies to served models (`--triton-config`); applying them to
a real Triton is tested in test_batching.py."""

from __future__ import annotations

import pytest

from triton_server.model_control import ConfigOverride, parse_override, parse_overrides


def test_overrides_name_a_model_a_field_and_a_value() -> None:
    overrides = parse_overrides("whisper.instances=1, whisper_decoder.max_queue_delay_us=2000,")
    assert overrides == [
        ConfigOverride("whisper", "instances", 1),
        ConfigOverride("whisper_decoder", "max_queue_delay_us", 2000),
    ]
    assert [str(o) for o in overrides] == ["whisper.instances=1", "whisper_decoder.max_queue_delay_us=2000"]
    assert parse_overrides("") == []


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("instances=1", "expected MODEL.FIELD=VALUE"),
        ("whisper.instances", "expected MODEL.FIELD=VALUE"),
        ("whisper.threads=2", "'threads' is not one of instances, max_batch_size, max_queue_delay_us"),
        ("whisper.instances=two", "'two' is not an integer"),
        ("whisper.instances=0", "instances must be at least 1"),
        ("whisper.max_queue_delay_us=-5", "max_queue_delay_us must be at least 0"),
    ],
)
def test_a_malformed_override_says_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_override(text)
