"""Property: any form of request parameters gets 200, or a 4xx whose JSON error names the field at fault.

Hypothesis draws the fields (known ones, unknown ones, repeated ones) and their values (valid,
invalid, odd Unicode, around the 4096-byte limit) and posts them with one second of jfk to the real
gateway. The assertions are structural, so they hold whichever values the gateway accepts.
"""

from __future__ import annotations

import numpy as np
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devstack.gateway_process import GatewayProcess
from fuzzing.multipart import upload_form
from fuzzing.synthesis import s16, wav
from tests.gateway.http import AUTH

KNOWN_FIELDS = (
    "model", "response_format", "language", "temperature", "seed", "prompt", "timestamp_granularities[]", "stream",
    "chunking_strategy", "chunking_strategy[type]", "chunking_strategy[threshold]",
)  # fmt: skip
# Codes that blame one field: their `param` must name a field the form has.
FIELD_CODES = ("invalid_parameter", "unsupported_parameter", "unsupported_language", "model_not_found")
INTERESTING_VALUES = (
    "", " ", "json", "text", "srt", "vtt", "verbose_json", "xml", "whisper-1", "whisper-tiny.en", "whisper-large-v3",
    "en", "english", "EN", "fr", "auto", "segment", "word", "true", "false", "True", "0", "1", "0.5", " 0.2 ", "-1",
    "2", "1e-300", "nan", "inf", "-0", "null", "[]", "server_vad", '{"type": "server_vad"}',
    '{"type": "server_vad", "threshold": 2}',
)  # fmt: skip

ONE_SECOND_WAV = wav(s16(np.sin(np.linspace(0, 2000 * np.pi, 16000)) * 0.1))

field_names = st.one_of(
    st.sampled_from(KNOWN_FIELDS),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
        lambda name: name != "file"
    ),
)
field_values = st.one_of(
    st.sampled_from(INTERESTING_VALUES),
    st.text(max_size=40),
    st.floats().map(repr),
    st.builds(lambda char, count: char * count, st.characters(exclude_categories=("Cs",)), st.integers(1000, 5000)),
)
forms = st.lists(st.tuples(field_names, field_values), max_size=6)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same forms every run: a failure here is a change in the gateway, not in the draw
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(form=forms)
def test_any_parameters_get_200_or_a_4xx_naming_the_field(gateway: GatewayProcess, form: list[tuple[str, str]]) -> None:
    body, content_type = upload_form(ONE_SECOND_WAV, "one-second.wav", form)
    response = requests.post(
        f"{gateway.url}/v1/audio/transcriptions", data=body, headers={**AUTH, "Content-Type": content_type}, timeout=60
    )
    assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, response.text)
    if response.status_code == 200:
        event("200")
        return
    error = response.json()["error"]
    event(f"{response.status_code} {error['code']}")  # --hypothesis-show-statistics counts them
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    sent = {name for name, _ in form}
    if error["code"] in FIELD_CODES:
        assert error["param"] in sent, (error, sent)
    elif error["param"] is not None:
        assert error["param"] in sent | {"file"}, (error, sent)
