"""The gateway fuzz runner: its checks, and a 150-input smoke run against the session's real gateway."""

from __future__ import annotations

import json

import pytest

from devstack.gateway_process import GatewayProcess
from fuzzing.corpus import cases
from fuzzing.runner import (
    Budgets,
    FuzzReport,
    after_run_problems,
    check_answer,
    documented_errors,
    fuzz_gateway,
)
from gateway.config import load_config
from tests.conftest import GATEWAY_TEST_LIMITS
from tests.gateway_process import TEST_API_KEY

SMOKE_SEED = 1  # `make fuzz` sends seed 0
SMOKE_INPUTS = 150
DOCUMENTED = documented_errors()


def _error(code: str) -> bytes:
    return json.dumps(
        {"error": {"message": "m", "type": "invalid_request_error", "code": code, "param": None}}
    ).encode()


def test_the_documented_errors_are_read_from_the_api_doc() -> None:
    assert {
        (400, "missing_file"),
        (413, "file_too_large"),
        (503, "circuit_open"),
        (400, "truncated_audio"),
    } <= DOCUMENTED
    assert all(400 <= status < 600 for status, _ in DOCUMENTED)


@pytest.mark.parametrize(
    ("status", "body", "response_format", "problem"),
    [
        (200, b'{"text": "hi"}', "json", None),
        (200, b"1\n00:00:00,000 --> 00:00:01,000\nhi\n", "srt", None),
        (200, b"hi", "json", "200 whose body is not the JSON asked for"),
        (
            200,
            b'{"text": "", "usage": {"type": "duration", "seconds": 37}}',
            "json",
            "transcribed 37 s, over max_audio_seconds (30)",
        ),
        (200, b'{"text": "", "duration": 29.5, "segments": []}', "verbose_json", None),
        (400, _error("not_audio"), "json", None),
        (400, _error("made_up_code"), "json", "undocumented error code"),
        (400, b"<html>Bad Request</html>", "json", "error without a JSON error body"),
        (500, _error("internal_error"), "json", "server error"),
        (503, _error("backend_unavailable"), "json", "server error"),
    ],
)
def test_every_answer_is_200_or_a_documented_4xx(
    status: int, body: bytes, response_format: str, problem: str | None
) -> None:
    assert check_answer(status, body, response_format, DOCUMENTED, max_audio_seconds=30)[1] == problem


def test_budgets_come_from_the_configured_timeouts() -> None:
    budgets = Budgets.of(load_config(environ={"DATTAVANI_DECODE_TIMEOUT_S": "3", "DATTAVANI_REQUEST_TIMEOUT_S": "20"}))
    assert budgets.allowed_s(400) < budgets.allowed_s(200) == budgets.allowed_s(None)
    assert budgets.refusal_s - 3 == budgets.answer_s - 23 > 0


def test_after_run_problems_name_an_unready_gateway_and_moved_backend_metrics() -> None:
    report = FuzzReport(after_run={"ready_status": 503, "backend_metrics_moved": {"failures": 2.0}})
    assert len(after_run_problems(report)) == 2
    assert after_run_problems(FuzzReport(after_run={"ready_status": 200, "backend_metrics_moved": {}})) == []


@pytest.mark.timeout(300)
async def test_fuzzed_uploads_get_documented_answers_and_good_requests_still_succeed(gateway: GatewayProcess) -> None:
    """150 corpus inputs, 4 at a time, with jfk.flac every 25th: 200 or a documented 4xx, in time, for each."""
    config = load_config(environ=GATEWAY_TEST_LIMITS)
    report = await fuzz_gateway(gateway.url, TEST_API_KEY, cases(SMOKE_SEED, SMOKE_INPUTS), config, concurrency=4)
    summary = report.summary()
    assert report.inputs == SMOKE_INPUTS and report.good_requests > SMOKE_INPUTS // 25, summary
    assert not report.findings, summary
    assert not after_run_problems(report), summary
