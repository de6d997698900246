"""docs/openapi.yaml is what /openapi.json serves, and it documents exactly the routes the app has."""

from __future__ import annotations

import requests
import yaml

from devstack.gateway_process import GatewayProcess
from gateway.app import OPENAPI_SPEC, create_app
from gateway.config import GatewayConfig
from gateway.errors import ApiError
from tests.gateway.http import AUTH


def test_served_spec_is_the_committed_file(gateway: GatewayProcess) -> None:
    served = requests.get(f"{gateway.url}/openapi.json", headers=AUTH, timeout=10).json()
    assert served == yaml.safe_load(OPENAPI_SPEC.read_text())
    assert served["openapi"].startswith("3.")


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    app = create_app(GatewayConfig(auth_disabled=True))
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    spec = yaml.safe_load(OPENAPI_SPEC.read_text())
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert routes == documented


def test_every_error_status_the_gateway_can_return_is_documented_for_transcriptions() -> None:
    spec = yaml.safe_load(OPENAPI_SPEC.read_text())
    documented = {int(code) for code in spec["paths"]["/v1/audio/transcriptions"]["post"]["responses"]}

    def subclasses(cls: type[ApiError]) -> list[type[ApiError]]:
        return [cls] + [sub for child in cls.__subclasses__() for sub in subclasses(child)]

    statuses = {error.status for error in subclasses(ApiError)} - {405, 500}
    assert statuses <= documented
