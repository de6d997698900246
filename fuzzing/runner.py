"""`python -m fuzzing.runner`: post fuzzed uploads to a real gateway and hold it to its documented answers.

Every input must get 200 or a 4xx with a JSON error whose (status, code) is in the error table of
docs/api.md, within the gateway's configured timeouts. Known-good requests (jfk.flac) are mixed in
and must keep coming back 200, served by Triton, with the right text; afterwards the gateway must
be ready, with no backend failure counted and no circuit breaker open. Anything else is a finding.

Without --url it starts Triton and the gateway itself (`devstack.stack.local_stack`) with the
gateway's default settings, writes `.run/fuzz/gateway-report.json`, and saves each finding's input
under `.run/fuzz/gateway-findings/`. Exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

from fuzzing.corpus import Case, case, cases
from fuzzing.multipart import upload_form
from gateway.config import GatewayConfig, load_config
from tests.audio_files import JFK, JFK_TEXT, normalize

PROJECT_ROOT = Path(__file__).resolve().parent.parent
API_DOC = PROJECT_ROOT / "docs" / "api.md"
WORKDIR = PROJECT_ROOT / ".run" / "fuzz"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
RESPONSE_FORMATS = ("json", "json", "verbose_json", "text", "srt", "vtt")
JSON_FORMATS = ("json", "verbose_json")
# Slack over the configured timeouts for the client's own scheduling on a busy machine.
BUDGET_SLACK_S = 5.0


def documented_errors(doc: Path = API_DOC) -> frozenset[tuple[int, str]]:
    """(status, code) pairs of the error table in docs/api.md (`| 400 | `code`, `code` | when |`)."""
    text = doc.read_text()
    table = text[text.index("## Errors") :]
    pairs: set[tuple[int, str]] = set()
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 3 and cells[1].isdigit():
            pairs.update((int(cells[1]), code) for code in re.findall(r"`([a-z0-9_]+)`", cells[2]))
    if not pairs:
        raise ValueError(f"no error table found in {doc}")
    return frozenset(pairs)


@dataclass(frozen=True)
class Budgets:
    """How long one request may take alone, from the gateway's configured timeouts."""

    refusal_s: float  # a 4xx: reading and decoding the upload is all it waits for
    answer_s: float  # anything else: decoding, then the backends within the request timeout

    @classmethod
    def of(cls, config: GatewayConfig) -> Budgets:
        return cls(
            refusal_s=config.decode_timeout_s + BUDGET_SLACK_S,
            answer_s=config.decode_timeout_s + config.request_timeout_s + BUDGET_SLACK_S,
        )

    def allowed_s(self, status: int | None) -> float:
        return self.refusal_s if status is not None and 400 <= status < 500 else self.answer_s


@dataclass(frozen=True)
class Outcome:
    name: str
    status: int | None  # None: no HTTP answer
    code: str | None
    seconds: float
    problem: str | None = None
    served_by: str | None = None

    @property
    def label(self) -> str:
        if self.status is None:
            return "no answer"
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass
class FuzzReport:
    inputs: int = 0
    good_requests: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    findings: list[Outcome] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    replayed: list[Outcome] = field(default_factory=list)  # inputs slow under load, sent again alone
    budgets: Budgets | None = None
    after_run: dict[str, object] = field(default_factory=dict)

    def record(self, outcome: Outcome, good: bool) -> None:
        if good:
            self.good_requests += 1
        else:
            self.inputs += 1
            self.answers[outcome.label] += 1
        self.latencies.append(outcome.seconds)
        if outcome.problem:
            self.findings.append(outcome)

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        statuses = Counter(label if label == "no answer" else label.split(" ")[0] for label in self.answers.elements())
        # Kinds without the numbers and texts that make each finding's message unique.
        problems = Counter(
            f"{re.sub(r'[0-9.]+', 'N', str(finding.problem).split(':')[0])} ({finding.label})"
            for finding in self.findings
        )
        return {
            "inputs": self.inputs,
            "good_requests": self.good_requests,
            "statuses": dict(sorted(statuses.items())),
            "answers": dict(self.answers.most_common()),
            "server_errors": sum(n for label, n in self.answers.items() if label.startswith("5")),
            "no_answer": self.answers.get("no answer", 0),
            "findings": len(self.findings),
            "finding_kinds": dict(problems.most_common()),
            "latency_s": {
                "p50": round(ordered[len(ordered) // 2], 3) if ordered else None,
                "p99": round(ordered[int(len(ordered) * 0.99)], 3) if ordered else None,
                "max": round(ordered[-1], 3) if ordered else None,
            },
            "replayed_alone": {replay.name: round(replay.seconds, 2) for replay in self.replayed},
            "budgets_s": asdict(self.budgets) if self.budgets else None,
            "wall_s": round(self.wall_s, 1),
            "after_run": self.after_run,
        }


def check_answer(
    status: int,
    body: bytes,
    response_format: str,
    documented: frozenset[tuple[int, str]],
    max_audio_seconds: float = math.inf,
) -> tuple[str | None, str | None]:
    """The error code of an answer and what is wrong with it (None when it is a documented answer)."""
    if status == 200:
        return None, _check_transcript(body, response_format, max_audio_seconds)
    try:
        error = json.loads(body)["error"]
        code = error["code"]
        if not isinstance(code, str) or not isinstance(error["message"], str):
            raise TypeError(error)
    except (ValueError, KeyError, TypeError):
        return None, "error without a JSON error body"
    if status >= 500:
        return code, "server error"
    if not 400 <= status < 500:
        return code, f"unexpected status {status}"
    if (status, code) not in documented:
        return code, "undocumented error code"
    return code, None


def _check_transcript(body: bytes, response_format: str, max_audio_seconds: float) -> str | None:
    """What is wrong with a 200: JSON without text, or more audio than the limit allows."""
    if response_format not in JSON_FORMATS:
        return None
    try:
        answer = json.loads(body)
        text = answer["text"]
        seconds = answer.get("duration", answer.get("usage", {}).get("seconds", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "200 whose body is not the JSON asked for"
    if not isinstance(text, str):
        return "200 without a text field"
    if isinstance(seconds, int | float) and seconds > max_audio_seconds + 1:
        return f"transcribed {seconds} s, over max_audio_seconds ({max_audio_seconds:g})"
    return None


class GatewayFuzzer:
    """Posts uploads to one gateway over bounded concurrency and checks each answer."""

    def __init__(
        self, url: str, api_key: str, config: GatewayConfig, concurrency: int = 4, good_every: int = 25
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.budgets = Budgets.of(config)
        self.max_audio_seconds = config.max_audio_seconds
        self.concurrency = concurrency
        self.good_every = good_every
        self.documented = documented_errors()
        self.good = Case("good:jfk.flac", JFK.read_bytes(), "jfk.flac")
        self._timeline: list[tuple[float, float, str]] = []  # (sent, answered, name) of every input

    async def post(self, session: aiohttp.ClientSession, case: Case, response_format: str) -> tuple[Outcome, bytes]:
        """Send one upload; the outcome says what is wrong with the answer (not yet whether it was too slow)."""
        body, content_type = upload_form(case.data, case.filename, [("response_format", response_format)])
        started = time.perf_counter()
        try:
            async with session.post(
                self.url + TRANSCRIPTIONS, data=body, headers={**self.headers, "Content-Type": content_type}
            ) as response:
                answer = await response.read()
                status, served_by = response.status, response.headers.get("X-Served-By")
        except TimeoutError:
            seconds = time.perf_counter() - started
            return Outcome(case.name, None, None, seconds, f"no answer in {seconds:.0f} s"), b""
        except aiohttp.ClientError as exc:
            return Outcome(case.name, None, None, time.perf_counter() - started, f"connection error: {exc!r}"), b""
        code, problem = check_answer(status, answer, response_format, self.documented, self.max_audio_seconds)
        self._timeline.append((started, time.perf_counter(), case.name))
        return Outcome(case.name, status, code, time.perf_counter() - started, problem, served_by), answer

    def _alongside(self, started: float, answered: float) -> list[str]:
        """The inputs in flight while a request was: the suspects when it was disturbed."""
        return [name for sent, done, name in self._timeline if sent < answered and done > started and name[0] != "g"]

    def _schedule(self, inputs: Iterable[Case]) -> Iterator[tuple[Case | None, str]]:
        """The inputs with a known-good request (None) before every `good_every`th; a response format for each."""
        for number, upload in enumerate(inputs):
            if number % self.good_every == 0:
                yield None, "json"
            digest = hashlib.sha256(upload.name.encode()).digest()
            yield upload, RESPONSE_FORMATS[digest[0] % len(RESPONSE_FORMATS)]
        yield None, "json"

    async def run(self, inputs: Iterable[Case], progress: Callable[[FuzzReport], None] | None = None) -> FuzzReport:
        report = FuzzReport(budgets=self.budgets)
        schedule = self._schedule(inputs)
        formats: dict[str, str] = {}
        slow: list[Outcome] = []
        metrics_before = await self._backend_metrics()
        started = time.perf_counter()
        # Under load an answer may wait for others' decoding and transcription: twice the budget alone.
        timeout = aiohttp.ClientTimeout(total=2 * self.budgets.answer_s)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            async def worker() -> None:
                for upload, response_format in schedule:  # one shared iterator: cases are made as they are sent
                    if upload is None:
                        report.record(await self._check_good(session), good=True)
                        continue
                    outcome, _ = await self.post(session, upload, response_format)
                    if outcome.problem is None and outcome.seconds > self.budgets.allowed_s(outcome.status):
                        slow.append(outcome)
                        formats[upload.name] = response_format
                    report.record(outcome, good=False)
                    if progress is not None and report.inputs % 500 == 0:
                        progress(report)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
            report.wall_s = time.perf_counter() - started
            report.replayed = [await self._replay_alone(session, outcome, formats[outcome.name]) for outcome in slow]
        report.findings.extend(replay for replay in report.replayed if replay.problem)
        report.after_run = await self._after_run(metrics_before)
        return report

    async def _replay_alone(self, session: aiohttp.ClientSession, slow: Outcome, response_format: str) -> Outcome:
        """Send an input that was slow under load again, alone: over its budget then, it is a finding."""
        seed, index = (int(part) for part in slow.name.split(":")[:2])
        outcome, _ = await self.post(session, case(seed, index), response_format)
        allowed = self.budgets.allowed_s(outcome.status)
        if outcome.problem is None and outcome.seconds > allowed:
            outcome = _with_problem(outcome, f"answered in {outcome.seconds:.1f} s alone, over its {allowed:.0f} s")
        return outcome

    async def _check_good(self, session: aiohttp.ClientSession) -> Outcome:
        started = time.perf_counter()
        outcome, body = await self.post(session, self.good, "json")
        alongside = f" (alongside {', '.join(self._alongside(started, time.perf_counter()))})"
        if outcome.problem:
            return _with_problem(outcome, outcome.problem + alongside)
        if outcome.status != 200:
            return _with_problem(outcome, "a known-good request was refused" + alongside)
        text = json.loads(body)["text"]
        if normalize(text) != normalize(JFK_TEXT):
            return _with_problem(outcome, f"a known-good request got the wrong text: {text[:80]!r}{alongside}")
        if outcome.served_by != "triton":
            return _with_problem(outcome, f"a known-good request was served by {outcome.served_by}{alongside}")
        if outcome.seconds > self.budgets.answer_s:
            return _with_problem(outcome, f"a known-good request took {outcome.seconds:.1f} s{alongside}")
        return outcome

    async def _backend_metrics(self) -> dict[str, float]:
        """Backend failures and open breakers from /metrics; client input must never move them."""
        async with (
            aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.get(self.url + "/metrics") as response,
        ):
            text = await response.text()
        wanted = ("dattavani_backend_failures_total", "dattavani_circuit_breaker_open")
        return {
            name: float(value)
            for name, value in (line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(wanted))
        }

    async def _after_run(self, metrics_before: dict[str, float]) -> dict[str, object]:
        metrics_after = await self._backend_metrics()
        moved = {
            name: value - metrics_before.get(name, 0.0)
            for name, value in metrics_after.items()
            if value != metrics_before.get(name, 0.0) or (name.startswith("dattavani_circuit") and value)
        }
        async with (
            aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.get(self.url + "/health/ready") as response,
        ):
            ready = response.status
        return {"ready_status": ready, "backend_metrics_moved": moved}


def _with_problem(outcome: Outcome, problem: str) -> Outcome:
    return Outcome(outcome.name, outcome.status, outcome.code, outcome.seconds, problem, outcome.served_by)


def after_run_problems(report: FuzzReport) -> list[str]:
    problems = []
    if report.after_run.get("ready_status") != 200:
        problems.append(f"gateway not ready after the run: {report.after_run.get('ready_status')}")
    if report.after_run.get("backend_metrics_moved"):
        problems.append(f"backend failures or open breakers after the run: {report.after_run['backend_metrics_moved']}")
    return problems


async def fuzz_gateway(
    url: str,
    api_key: str,
    inputs: Iterable[Case],
    config: GatewayConfig,
    concurrency: int = 4,
    progress: Callable[[FuzzReport], None] | None = None,
) -> FuzzReport:
    """Post `inputs` to the gateway at `url` (configured as `config`) and check every answer."""
    fuzzer = GatewayFuzzer(url, api_key, config, concurrency=concurrency)
    return await fuzzer.run(inputs, progress)


def _save_findings(report: FuzzReport, folder: Path, per_kind: int = 5) -> list[dict[str, object]]:
    """Every finding, with the input of the first `per_kind` of each kind saved for replay."""
    folder.mkdir(parents=True, exist_ok=True)
    saved, kinds = [], Counter[tuple[str | None, str]]()
    for finding in report.findings:
        entry: dict[str, object] = asdict(finding)
        seed, index = finding.name.split(":")[:2]
        kinds[finding.problem, finding.label] += 1
        if seed.isdigit() and index.isdigit() and kinds[finding.problem, finding.label] <= per_kind:
            path = folder / f"{seed}-{int(index):06d}.bin"
            path.write_bytes(case(int(seed), int(index)).data)
            entry["input"] = str(path.relative_to(PROJECT_ROOT))
            entry["reproduce"] = f"python -m fuzzing.corpus --seed {seed} --index {index} --out {path.name}"
        saved.append(entry)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzing.runner", description=__doc__)
    parser.add_argument("--inputs", type=int, default=10_000, help="fuzzed uploads to send (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first corpus index (to resume or shard a run)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--url", help="a running gateway (default: start Triton and a gateway here)")
    parser.add_argument("--api-key", help="its key (with --url)")
    parser.add_argument("--out", type=Path, default=WORKDIR / "gateway-report.json")
    args = parser.parse_args(argv)

    def progress(report: FuzzReport) -> None:
        top = ", ".join(f"{label}: {n}" for label, n in report.answers.most_common(6))
        print(f"{report.inputs} inputs, {len(report.findings)} findings; {top}", file=sys.stderr, flush=True)

    inputs = cases(args.seed, args.inputs, start=args.start)
    if args.url:
        config = load_config(environ={})
        report = asyncio.run(fuzz_gateway(args.url, args.api_key or "", inputs, config, args.concurrency, progress))
    else:
        from devstack.stack import local_stack

        config = load_config(environ={})  # the gateway's defaults, as shipped
        with local_stack(WORKDIR / "stack") as stack:
            report = asyncio.run(
                fuzz_gateway(stack.gateway.url, stack.api_key, inputs, config, args.concurrency, progress)
            )
    summary = report.summary()
    problems = after_run_problems(report)
    summary["after_run_problems"] = problems
    summary["findings_detail"] = _save_findings(report, WORKDIR / "gateway-findings")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({key: value for key, value in summary.items() if key != "findings_detail"}, indent=2))
    print(f"report: {args.out}", file=sys.stderr)
    return 1 if report.findings or problems else 0


if __name__ == "__main__":
    sys.exit(main())
