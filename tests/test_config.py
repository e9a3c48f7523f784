from __future__ import annotations

from pathlib import Path

import pytest

from bot import config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    cfg = config.load()
    assert cfg.path == ""
    assert cfg.probe.enabled is False
    assert cfg.probe.ports == (21, 22, 23, 25, 79, 80, 139, 6000, 6001)


def test_lookup_order_prefers_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    xdg = tmp_path / "xdg" / "incident-bot"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text("[scan]\ntimezone = 'Europe/Paris'\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.load().scan.timezone == "Europe/Paris"
    (tmp_path / "incident.toml").write_text("[scan]\ntimezone = 'Asia/Seoul'\n")
    assert config.load().scan.timezone == "Asia/Seoul"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[scan]\nbogus = 1\n", "scan.bogus: unknown key"),
        ("[nosuch]\n", "nosuch: unknown key"),
        ("[gather]\ntimeout = 'fast'\n", "gather.timeout: expected a number"),
        ("[probe]\nenabled = 1\n", "probe.enabled: expected true or false"),
        ("[probe]\nports = [22, 'ssh']\n", "probe.ports[1]: expected an integer"),
        ("[probe]\nports = [70000]\n", "probe.ports[0]: 70000 is not a TCP port"),
        ("[scan]\nown_networks = ['10.0.0.0/33']\n", "scan.own_networks[0]"),
        ("[scan]\ntimezone = 'Mars/Olympus'\n", "scan.timezone: unknown time zone"),
        ("[smtp]\nsecurity = 'ssl'\n", "smtp.security"),
        ("[gather.registries.arin]\nconcurrency = 0\n", "gather.registries.arin"),
        ("[[contacts.override]]\ncidr = '1.2.3.0/24'\n", "contacts.override[0].emails"),
        ("scan = 3\n", "scan: expected a table"),
        ("[scan\n", "invalid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_explicit_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "missing.toml")


def test_one_registry_limit_keeps_the_other_defaults() -> None:
    cfg = config.from_dict({"gather": {"registries": {"lacnic": {"per_minute": 5}}}})
    assert cfg.gather.registries["lacnic"].per_minute == 5
    assert cfg.gather.registries["arin"] == config.default_limits()["arin"]


def test_password_comes_from_environment_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SMTP_PW", "s3cret")
    assert config.from_dict({"smtp": {"password_env": "MY_SMTP_PW"}}).smtp.password() == "s3cret"
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    assert config.from_dict({"smtp": {"password_file": str(pw)}}).smtp.password() == "from-file"
    with pytest.raises(ConfigError, match=r"smtp\.password_file"):
        config.from_dict({"smtp": {"password_file": str(tmp_path / "nope")}}).smtp.password()


def test_example_config_is_valid_and_documents_every_key() -> None:
    """config.example.toml must load, and must mention every option the code knows, in its own section."""
    import dataclasses
    import re

    example = ROOT / "config.example.toml"
    cfg = config.load(example)
    text = example.read_text()
    sections = [f.name for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name))]
    assert {"scan", "gather", "report", "smtp", "mailbox", "slack", "serve"} <= set(sections)
    for section in sections:
        if not dataclasses.fields(getattr(cfg, section)):
            continue  # a section with no option yet
        found = re.search(rf"^\[{section}\]$(.*?)(?=^\[(?!{section}[.\]])|\Z)", text, re.M | re.S)
        assert found, f"[{section}] is not in config.example.toml"
        for name in getattr(cfg, section).__dataclass_fields__:
            documented = re.search(rf"^#? ?{name} =|\.{name}\b", found.group(1), re.M)
            assert documented, f"{section}.{name} undocumented"
