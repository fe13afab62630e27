"""What ``collab`` says about how it was called (trial 2 of the README, findings 13-17 and 24):
a mistyped flag or value is one line naming the subcommand (with a suggestion), ``--version``,
help without Python reprs, an empty ``COLLAB_*`` variable is unset, a misspelt one is named,
and an allowed origin that is not an origin is refused."""

from __future__ import annotations

import pytest

from collab.cli import main, unknown_variables
from collab.settings import Settings, SettingsError
from collab.stores.sqlite_schema import collab_version


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``collab ARGV`` in process: (exit status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


def test_a_bad_value_is_one_line_naming_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "serve", "--port", "abc")
    assert status == 2 and out == ""
    assert err.splitlines() == [
        "collab serve: argument --port: invalid int value: 'abc' (see collab serve --help)"
    ]


def test_a_misspelt_flag_is_reported_by_its_subcommand_with_a_suggestion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys, "serve", "--prot", "8001")
    assert status == 2
    assert err.splitlines() == [
        "collab serve: unrecognized arguments: --prot 8001 (did you mean --port?"
        " see collab serve --help)"
    ]
    status, _, err = run(capsys, "export", "notes", "--fromat", "text")
    assert status == 2
    assert err.splitlines()[0].startswith("collab export: unrecognized arguments: --fromat")
    assert "did you mean --format?" in err


def test_no_command_or_an_unknown_one_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["serv"]):
        status, _, err = run(capsys, *argv)
        assert status == 2 and len(err.splitlines()) == 1, err
        assert err.startswith("collab: ") and "serve" in err and "collab --help" in err, err
    assert "did you mean serve?" in run(capsys, "serv")[2]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out == f"collab {collab_version()}\n"


def test_help_shows_values_as_a_user_types_them(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "serve", "--help")
    assert status == 0
    text = " ".join(out.split())
    assert "default ()" not in text and "default ''" not in text, text
    assert "--allowed-origin ORIGIN" in text and "--webhook-url URL" in text, text
    assert "--allowed-host HOST" in text and "default data/collab.db" in text, text
    assert "env COLLAB_ALLOWED_ORIGINS, default (empty)" in text, text
    status, out, _ = run(capsys, "--help")
    text = " ".join(out.split())
    for word in ("y-websocket", "Hocuspocus", "HTTP API", "SQLite", "PostgreSQL", "--version"):
        assert word in text, text


def test_an_empty_variable_means_the_default() -> None:
    environ = {"COLLAB_HOST": "", "COLLAB_DB": "", "COLLAB_PORT": "", "COLLAB_REDIS": ""}
    assert Settings.from_sources({}, environ) == Settings()


def test_a_misspelt_variable_is_named_with_the_one_meant() -> None:
    environ = {"COLLAB_AUTH_SECERT": "x", "COLLAB_PORT": "8001", "COLLAB_TOKEN": "t", "HOME": "/"}
    assert unknown_variables(environ) == [
        "collab: warning: COLLAB_AUTH_SECERT is not a collab setting (did you mean"
        " COLLAB_AUTH_SECRET?); it is ignored"
    ]


@pytest.mark.parametrize(
    "origin", ["not-a-url", "https://app.example/", "app.example", "https://app.example/path"]
)
def test_an_allowed_origin_that_is_not_an_origin_is_refused(origin: str) -> None:
    with pytest.raises(SettingsError, match="--allowed-origin") as caught:
        Settings.from_sources({}, {"COLLAB_ALLOWED_ORIGINS": origin})
    assert "scheme://host[:port]" in str(caught.value)
    good = "*,https://app.example,http://127.0.0.1:5173,null"
    assert Settings.from_sources({}, {"COLLAB_ALLOWED_ORIGINS": good}).allowed_origins == (
        "*",
        "https://app.example",
        "http://127.0.0.1:5173",
        "null",
    )


@pytest.mark.parametrize("flag", ["--restore", "--drop"])
def test_restore_or_drop_without_repair_is_a_usage_error(
    flag: str, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    status, out, err = run(capsys, "doctor", "--db", f"{tmp_path}/x.db", flag, "2")
    assert status == 2 and out == ""
    assert err.splitlines() == [
        f"collab doctor: {flag} goes with --repair: collab doctor --repair {flag} ID"
        " (see collab doctor --help)"
    ]
