"""`python -m gateway`: run the gateway (and, with --start-triton, a local Triton beside it).

On SIGTERM or SIGINT the gateway drains: readiness turns 503 and new transcriptions are refused
(503 `shutting_down`) at once, in-flight ones finish (up to `drain_timeout_s`), then it exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.app_keys import ADMISSION, MODELS
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.models import ModelCatalog
from gateway.realtime.route import close_sessions
from triton_server.launcher import TritonLaunchError, TritonServer, TritonSettings, describe_precisions, with_ports

ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf s request_id=%{X-Request-ID}o served_by=%{X-Served-By}o'
log = logging.getLogger("gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML file (default: $DATTAVANI_CONFIG_FILE)")
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default 8080)")
    parser.add_argument(
        "--start-triton",
        action="store_true",
        help="start a local Triton at triton_url (gRPC port; HTTP one below, metrics one above: 8000-8002 by default)",
    )
    parser.add_argument("--dev-key-file", type=Path, help="file holding the development key, named in the banner")
    parser.add_argument("--example-audio", type=Path, help="audio file named in the banner's example command")
    return parser


def _banner(config: GatewayConfig, models: ModelCatalog, key_file: Path | None, audio: Path | None) -> str:
    base = f"http://{config.host}:{config.port}"
    key = f"$(cat {key_file})" if key_file else "$DATTAVANI_API_KEY"
    file = audio or "your-audio.flac"
    multilingual = [name for name, model in models.models.items() if model.multilingual]
    translate = (
        f"Translate speech in another language into English (multilingual models: {', '.join(multilingual)}):\n"
        f'  curl -s {base}/v1/audio/translations -H "Authorization: Bearer {key}" -F file=@{file} '
        f"-F model={multilingual[0]}\n"
        if multilingual
        else ""
    )
    return (
        f"\nDattavani ASR gateway ready on {base} (Triton {config.triton_url}; models {', '.join(config.models)}, "
        f"default {config.default})\n"
        f"Transcribe a file:\n"
        f'  curl -s {base}/v1/audio/transcriptions -H "Authorization: Bearer {key}" '
        f"-F file=@{file} -F model={config.default}\n"
        f"{translate}"
        f"With the OpenAI SDK: OpenAI(base_url='{base}/v1', api_key=...).audio.transcriptions.create(...)\n"
        f"API docs: docs/api.md, spec: {base}/openapi.json\n"
    )


async def serve(app: web.Application, config: GatewayConfig, banner: str) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests and shut down."""
    runner = web.AppRunner(app, access_log_format=ACCESS_LOG_FORMAT, shutdown_timeout=config.drain_timeout_s)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port, backlog=config.listen_backlog).start()
    print(banner, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    admission = app[ADMISSION]
    await close_sessions(app)
    log.info("shutting down: draining %d in-flight requests", admission.active + admission.queued)
    drained = await admission.drain(config.drain_timeout_s)
    if not drained:
        log.warning("drain timeout of %.0f s passed with requests still in flight", config.drain_timeout_s)
    await asyncio.sleep(config.drain_grace_s)  # let load balancers see the 503 readiness before the port closes
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(config_file=args.config, host=args.host, port=args.port)
        app = create_app(config)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with ExitStack() as stack:
        if args.start_triton:
            host, _, grpc_port = config.triton_url[0].rpartition(":")  # the first Triton is the one started
            settings = with_ports(
                TritonSettings(
                    repository=config.model_repository,
                    models=config.models,
                    host=host,
                    otlp_endpoint=config.otlp_endpoint,
                ),
                int(grpc_port) - 1,
            )
            settings.workdir.mkdir(parents=True, exist_ok=True)
            triton_log = stack.enter_context((settings.workdir / "triton.log").open("ab"))
            print(f"starting Triton (log: {settings.workdir / 'triton.log'}) ...", flush=True)
            try:
                triton = stack.enter_context(TritonServer(settings, log=triton_log))
            except TritonLaunchError as exc:
                print(f"gateway: Triton failed to start: {exc}", file=sys.stderr)
                return 1
            print(
                f"Triton serves {describe_precisions(triton.precisions)} (calibrated on this host: "
                f"{settings.calibration_record})",
                flush=True,
            )
        asyncio.run(serve(app, config, _banner(config, app[MODELS], args.dev_key_file, args.example_audio)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
