import socket
from pathlib import Path

import pytest

from pipeline.settings import Settings, SettingsError, ensure_data_dir


def settings(env: dict[str, str], env_file: Path | None = None) -> Settings:
    return Settings.from_env(env, env_file=env_file)


def test_defaults_are_those_of_operations_md():
    s = settings({})
    assert s.broker == "kafka://127.0.0.1:9092"
    assert s.bootstrap_servers == ["127.0.0.1:9092"]
    assert s.topic == "cdr.rated" and s.dlq_topic == "cdr.rated.dlq"
    assert s.clickhouse.interface == "chdb" and s.clickhouse.path == "./var/clickhouse"
    assert s.clickhouse.database == "cdrflow"
    assert str(s.data_dir) == "var"
    assert s.web_port == 6066
    assert s.api_token is None
    assert s.web_host == "127.0.0.1"  # without a token only this machine reaches the API
    assert s.schedule_grace_minutes == 60
    assert (s.smtp.host, s.smtp.port, s.smtp.ssl, s.smtp.starttls) == ("127.0.0.1", 25, False, False)
    assert s.mail_from == "reports@localhost"
    assert s.state == "rocksdb" and s.replication == 1
    assert s.report_max_seconds == 60 and s.webhook_max_per_step == 100


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# local settings\nCDRFLOW_TOPIC=switch.cdrs\nexport CDRFLOW_WEB_PORT='7000'\nCDRFLOW_API_TOKEN=\"s3cret\"\n"
    )
    s = settings({"CDRFLOW_WEB_PORT": "7100"}, env_file)
    assert s.topic == "switch.cdrs"
    assert s.web_port == 7100
    assert s.api_token == "s3cret"
    assert s.web_host == "0.0.0.0"  # a token guards it: open by default


def test_the_web_host_can_be_opened_or_narrowed_explicitly():
    assert settings({"CDRFLOW_WEB_HOST": "0.0.0.0"}).web_host == "0.0.0.0"
    assert settings({"CDRFLOW_WEB_HOST": "127.0.0.1", "CDRFLOW_API_TOKEN": "t"}).web_host == "127.0.0.1"
    with pytest.raises(SettingsError, match="CDRFLOW_WEB_HOST"):
        settings({"CDRFLOW_WEB_HOST": "0.0.0.0; rm -rf /"})
    with pytest.raises(SettingsError, match="CDRFLOW_SCHEDULE_GRACE_MINUTES"):
        settings({"CDRFLOW_SCHEDULE_GRACE_MINUTES": "-5"})


def test_clickhouse_server_url_with_credentials_and_database():
    s = settings({"CDRFLOW_CLICKHOUSE": "https://reporter:p%40ss@ch.example.net:8443/billing"})
    url = s.clickhouse
    assert (url.interface, url.host, url.port, url.username, url.password, url.database) == (
        "https",
        "ch.example.net",
        8443,
        "reporter",
        "p@ss",
        "billing",
    )


def test_several_brokers():
    s = settings({"CDRFLOW_BROKER": "kafka://k1:9092,k2:9093"})
    assert s.bootstrap_servers == ["k1:9092", "k2:9093"]


def test_smtp_with_login_and_starttls():
    smtp = settings({"CDRFLOW_SMTP": "smtp://bot:pw@mail.example.com:587?starttls=1"}).smtp
    assert (smtp.host, smtp.port, smtp.username, smtp.password, smtp.starttls, smtp.ssl) == (
        "mail.example.com",
        587,
        "bot",
        "pw",
        True,
        False,
    )
    assert settings({"CDRFLOW_SMTP": "smtps://mail.example.com"}).smtp.port == 465


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CDRFLOW_CLICKHOUSE", "postgres://db/x"),
        ("CDRFLOW_CLICKHOUSE", "chdb://"),
        ("CDRFLOW_CLICKHOUSE", "http://host:notaport/db"),
        ("CDRFLOW_CLICKHOUSE", "http://host:8123/bad-name;drop"),
        ("CDRFLOW_BROKER", "http://127.0.0.1:9092"),
        ("CDRFLOW_BROKER", "kafka://127.0.0.1"),
        ("CDRFLOW_TOPIC", "cdr rated!"),
        ("CDRFLOW_WEB_PORT", "70000"),
        ("CDRFLOW_WEB_PORT", "http"),
        ("CDRFLOW_SMTP", "smtp://"),
        ("CDRFLOW_SMTP", "smtp://host?starttls=yes"),
        ("CDRFLOW_MAIL_FROM", "reports"),
        ("CDRFLOW_PARTITIONS", "0"),
        ("CDRFLOW_STATE", "redis"),
        ("CDRFLOW_REPLICATION", "0"),
        ("CDRFLOW_STATE_MEMORY_MB", "1"),
        ("CDRFLOW_BATCH_LAG_LIMIT", "1"),
        ("CDRFLOW_CURRENCY", "eur"),
        ("CDRFLOW_CURRENCY", "€"),
        ("CDRFLOW_CURRENCY", 'EU"R'),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable, value):
    with pytest.raises(SettingsError) as error:
        settings({variable: value})
    assert str(error.value).startswith(f"{variable}: ")


def test_a_malformed_env_file_line_names_the_file_and_line(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("CDRFLOW_TOPIC=a\njust words\n")
    with pytest.raises(SettingsError, match=r"\.env:2: expected KEY=VALUE"):
        settings({}, env_file)


def test_the_state_folder_is_made_per_app_id(tmp_path):
    s = settings({"CDRFLOW_DATA_DIR": str(tmp_path / "var"), "CDRFLOW_APP_ID": "east"})
    assert ensure_data_dir(s) == tmp_path / "var" / "faust" / "east"
    assert ensure_data_dir(s).is_dir()


@pytest.mark.parametrize("kind", ["a file", "unwritable"])
def test_a_data_dir_the_worker_cannot_write_is_refused_naming_it(tmp_path, kind):
    if kind == "a file":
        data_dir = tmp_path / "state"
        data_dir.write_text("not a folder")
    else:
        data_dir = Path("/proc/cdrflow-state")  # nobody, root included, makes folders there
    with pytest.raises(SettingsError) as error:
        ensure_data_dir(settings({"CDRFLOW_DATA_DIR": str(data_dir)}))
    assert str(error.value).startswith("CDRFLOW_DATA_DIR: ") and str(data_dir) in str(error.value)


def test_other_workers_reach_this_one_at_its_advertised_url():
    assert settings({"CDRFLOW_ADVERTISED_URL": "http://noc-7.example.net:6066/"}).canonical_url == (
        "http://noc-7.example.net:6066"
    )
    assert settings({"CDRFLOW_WEB_HOST": "127.0.0.2"}).canonical_url == "http://127.0.0.2:6066"
    listening_everywhere = settings({"CDRFLOW_WEB_HOST": "0.0.0.0", "CDRFLOW_WEB_PORT": "7000"})
    assert listening_everywhere.canonical_url == f"http://{socket.gethostname()}:7000"
    for bad in ("noc-7:6066", "ftp://noc-7:6066", "http://noc-7", "http://noc-7:6066/api"):
        with pytest.raises(SettingsError, match="CDRFLOW_ADVERTISED_URL: expected http://host:port"):
            settings({"CDRFLOW_ADVERTISED_URL": bad})
