"""The one typed config: defaults, then TOML file, then DATTAVANI_* environment, then CLI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, GatewayConfig, load_config


def test_defaults_serve_on_loopback() -> None:
    config = load_config(environ={})
    assert (config.host, config.port, config.triton_url) == ("127.0.0.1", 8080, ("127.0.0.1:8001",))
    assert config == GatewayConfig()


def test_environment_values_are_typed() -> None:
    config = load_config(
        environ={
            "DATTAVANI_PORT": "9000",
            "DATTAVANI_API_KEYS": "a, b,,c",
            "DATTAVANI_AUTH_DISABLED": "yes",
            "DATTAVANI_DECODE_TIMEOUT_S": "2.5",
            "DATTAVANI_API_KEYS_FILE": "/etc/keys",
        }
    )
    assert config.port == 9000
    assert config.api_keys == ("a", "b", "c")
    assert config.auth_disabled is True
    assert config.decode_timeout_s == 2.5
    assert config.api_keys_file == Path("/etc/keys")


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config_file = tmp_path / "gateway.toml"
    config_file.write_text('port = 7000\nhost = "0.0.0.0"\nmodel_aliases = ["a", "b"]\n')
    config = load_config(environ={"DATTAVANI_CONFIG_FILE": str(config_file), "DATTAVANI_HOST": "127.0.0.2"}, port=7100)
    assert (config.host, config.port, config.model_aliases) == ("127.0.0.2", 7100, ("a", "b"))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DATTAVANI_PORT": "eighty"}, "port: cannot read 'eighty' as int"),
        ({"DATTAVANI_AUTH_DISABLED": "maybe"}, "auth_disabled"),
        ({"DATTAVANI_MAX_UPLOAD_BYTES": "0"}, "max_upload_bytes must be positive"),
    ],
)
def test_bad_values_are_config_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ=environ)


def test_unknown_settings_in_the_file_are_refused(tmp_path: Path) -> None:
    config_file = tmp_path / "gateway.toml"
    config_file.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown settings prot"):
        load_config(environ={}, config_file=config_file)


def test_the_default_model_is_the_first_served_unless_named_and_must_be_served() -> None:
    assert GatewayConfig().default == "whisper-tiny.en"
    assert load_config({"DATTAVANI_MODELS": "whisper-base"}).default == "whisper-base"
    assert load_config({"DATTAVANI_DEFAULT_MODEL": "whisper-base"}).default == "whisper-base"
    with pytest.raises(ConfigError, match="default_model 'whisper-base' is not among models"):
        load_config({"DATTAVANI_MODELS": "whisper-tiny.en", "DATTAVANI_DEFAULT_MODEL": "whisper-base"})
    with pytest.raises(ConfigError, match="name each model once"):
        load_config({"DATTAVANI_MODEL_ALIASES": "whisper-base"})
