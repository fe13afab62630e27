"""Unit tests of access control: tokens, grants, roles, the Origin check, the rate limiter
and the parsing of the security settings (collab/auth.py, collab/limits.py, settings, CLI)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest

from collab import cli
from collab.auth import (
    ALL_DOCUMENTS,
    Forbidden,
    Grant,
    Role,
    Unauthorized,
    bearer_token,
    mint_token,
    origin_allowed,
    verify_token,
)
from collab.limits import TokenBucket
from collab.sessions.access import TokenAccess
from collab.settings import Settings, SettingsError

SECRET = "unit-test-secret-0123456789-abcdefghijklmnop"
NOW = 1_700_000_000.0  # in the past: PyJWT checks "iat" against the real clock


# -- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("doc", ["team/notes", "team/*", "*", "ünïcode/dóc"])
def test_minted_token_verifies_to_its_grant(doc: str, role: Role) -> None:
    token = mint_token(SECRET, doc, role, 3600, now=NOW)
    assert verify_token(token, SECRET, now=NOW + 10) == Grant(doc, role, NOW + 3600)


def test_token_claims_are_the_documented_ones() -> None:
    token = mint_token(SECRET, "team/notes", Role.WRITE, 90, now=NOW)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert header["alg"] == "HS256"
    assert claims == {"doc": "team/notes", "role": "write", "iat": int(NOW), "exp": int(NOW) + 90}


def test_token_is_valid_until_its_expiry_and_not_at_it() -> None:
    token = mint_token(SECRET, "a", Role.READ, 60, now=NOW)
    assert verify_token(token, SECRET, now=NOW + 59.999).expires_at == NOW + 60
    for later in (NOW + 60, NOW + 61, NOW + 10**6):
        with pytest.raises(Unauthorized, match=r"^access token expired$"):
            verify_token(token, SECRET, now=later)


def test_token_verified_with_the_real_clock() -> None:
    assert verify_token(mint_token(SECRET, "a", Role.READ, 60), SECRET).doc == "a"
    with pytest.raises(Unauthorized, match="expired"):
        verify_token(mint_token(SECRET, "a", Role.READ, -5), SECRET)


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_is_unauthorized(token: str | None) -> None:
    with pytest.raises(Unauthorized, match=r"^access token required$"):
        verify_token(token, SECRET)


def test_bad_signature_is_unauthorized() -> None:
    token = mint_token("another-secret-of-enough-length-0123456789", "a", Role.ADMIN, 60)
    with pytest.raises(
        Unauthorized, match=r"^invalid access token: not signed with this server's secret$"
    ):
        verify_token(token, SECRET)


def test_tampered_claims_are_unauthorized() -> None:
    header, _, signature = mint_token(SECRET, "a", Role.READ, 60).split(".")
    forged = jwt.encode({"doc": "*", "role": "admin", "exp": int(time.time()) + 60}, "x" * 32)
    forged_claims = forged.split(".")[1]
    with pytest.raises(Unauthorized, match="invalid access token"):
        verify_token(f"{header}.{forged_claims}.{signature}", SECRET)


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "a.b", "....", "Bearer xyz", "eyJhbGciOiJIUzI1NiJ9..", "\x00"]
)
def test_malformed_token_is_unauthorized(token: str) -> None:
    with pytest.raises(Unauthorized, match=r"^invalid access token: ") as caught:
        verify_token(token, SECRET)
    # in words a user can act on, not PyJWT's ("Not enough segments", "Invalid header padding")
    assert str(caught.value) in (
        "invalid access token: not a JWT (make one with collab token)",
        "invalid access token: not signed with this server's secret",
    )


def test_unsigned_token_alg_none_is_unauthorized() -> None:
    claims = {"doc": "*", "role": "admin", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="invalid access token"):
        verify_token(token, SECRET)


def test_token_of_another_algorithm_is_unauthorized() -> None:
    secret = SECRET * 2  # HS512 wants 64 bytes of key
    token = mint_token(secret, "a", Role.READ, 60, algorithm="HS512")
    with pytest.raises(
        Unauthorized, match=r"^invalid access token: not signed with HS256, as this server expects$"
    ):
        verify_token(token, secret)  # the server expects HS256
    assert verify_token(token, secret, algorithm="HS512").doc == "a"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (
            {"doc": "a", "role": "read"},
            "invalid access token: it has no exp claim (make one with collab token)",
        ),
        (
            {"role": "read", "exp": 2 * NOW},
            "invalid access token: it has no doc claim (make one with collab token)",
        ),
        (
            {"doc": "a", "exp": 2 * NOW},
            "invalid access token: it has no role claim (make one with collab token)",
        ),
        ({"doc": "a", "role": "owner", "exp": 2 * NOW}, "invalid access token: role must be"),
        ({"doc": "a", "role": 3, "exp": 2 * NOW}, "invalid access token: bad doc or role claim"),
        ({"doc": "", "role": "read", "exp": 2 * NOW}, "invalid access token: bad doc or role"),
        ({"doc": ["a"], "role": "read", "exp": 2 * NOW}, "invalid access token: bad doc or role"),
        (
            {"doc": None, "role": "read", "exp": 2 * NOW},
            "invalid access token: it has no doc claim (make one with collab token)",
        ),
        ({"doc": "a", "role": "read", "exp": "soon"}, "invalid access token: exp is not a number"),
        (
            {"doc": "a", "role": "read", "exp": None},
            "invalid access token: it has no exp claim (make one with collab token)",
        ),
        ({"doc": "a", "role": "read", "exp": [1]}, "invalid access token: exp is not a number"),
    ],
)
def test_bad_claims_are_unauthorized(claims: dict[str, object], reason: str) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized) as caught:
        verify_token(token, SECRET, now=NOW)
    assert str(caught.value).startswith(reason)


# -- roles and grants ------------------------------------------------------------------------


def test_roles_are_ordered_and_parsed() -> None:
    assert Role.READ < Role.WRITE < Role.ADMIN
    assert [Role.parse(t) for t in ("read", "write", "admin")] == [
        Role.READ,
        Role.WRITE,
        Role.ADMIN,
    ]
    for bad in ("owner", "", "reader", "*"):
        with pytest.raises(ValueError, match="role must be read, write or admin"):
            Role.parse(bad)


@pytest.mark.parametrize(
    ("doc", "name", "covered"),
    [
        ("team/notes", "team/notes", True),
        ("team/notes", "team/notes2", False),
        ("team/notes", "team", False),
        ("team/notes", "Team/notes", False),
        ("team/*", "team/notes", True),
        ("team/*", "team/a/b/c", True),
        ("team/*", "team/", True),
        ("team/*", "team", False),
        ("team/*", "teammate/x", False),
        ("team/*", "other/team/x", False),
        ("team*", "teammate", True),
        ("*", "anything/at/all", True),
        ("a*b", "a*b", True),  # only a trailing * makes a prefix: elsewhere it is literal
        ("a*b", "axb", False),
        ("a*b*", "a*bc", True),
    ],
)
def test_grant_covers(doc: str, name: str, covered: bool) -> None:
    assert Grant(doc, Role.READ, NOW).covers(name) is covered


def test_grant_prefix() -> None:
    assert Grant("team/notes", Role.READ, NOW).prefix is None
    assert Grant("team/*", Role.READ, NOW).prefix == "team/"
    assert Grant("*", Role.READ, NOW).prefix == ""


@pytest.mark.parametrize(
    ("granted", "needed", "reason"),
    [
        (Role.READ, Role.READ, None),
        (Role.READ, Role.WRITE, "token role read cannot write"),
        (Role.READ, Role.ADMIN, "token role read cannot delete documents"),
        (Role.WRITE, Role.READ, None),
        (Role.WRITE, Role.WRITE, None),
        (Role.WRITE, Role.ADMIN, "token role write cannot delete documents"),
        (Role.ADMIN, Role.READ, None),
        (Role.ADMIN, Role.WRITE, None),
        (Role.ADMIN, Role.ADMIN, None),
    ],
)
def test_grant_require_role(granted: Role, needed: Role, reason: str | None) -> None:
    grant = Grant("team/*", granted, NOW)
    if reason is None:
        grant.require("team/x", needed)
    else:
        with pytest.raises(Forbidden) as caught:
            grant.require("team/x", needed)
        assert str(caught.value) == reason


@pytest.mark.parametrize("role", list(Role))
def test_grant_require_other_document_is_forbidden_whatever_the_role(role: Role) -> None:
    with pytest.raises(Forbidden) as caught:
        Grant("team/*", role, NOW).require("other/x", Role.READ)
    assert str(caught.value) == "token does not grant this document"


def test_auth_off_grant_allows_everything() -> None:
    assert ALL_DOCUMENTS.role == Role.ADMIN
    assert ALL_DOCUMENTS.expires_at == float("inf")
    ALL_DOCUMENTS.require("any/document/at/all", Role.ADMIN)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer   abc  ", "abc"),
        ("Bearer ", None),
        ("Bearer", None),
        ("Basic dXNlcjpwdw==", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Token abc.def.ghi", "Basic dXNlcjpwdw==", "abc.def.ghi"])
async def test_an_authorization_header_of_another_scheme_is_named(header: str) -> None:
    """``Authorization: Token ...`` (GitHub's style) or a bare token was answered "access
    token required", as if nothing had been sent."""

    conn = SimpleNamespace(
        scope={"type": "http"}, query_params={}, headers={"authorization": header}
    )
    with pytest.raises(Unauthorized, match="Bearer") as refused:
        await TokenAccess("s" * 32).grant(conn)
    assert header.split()[0] in str(refused.value) or "no scheme" in str(refused.value)


# -- origins ---------------------------------------------------------------------------------

HOST = "127.0.0.1:8000"


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        # no Origin: not a browser; tokens protect documents from those
        (None, HOST, (), True),
        (None, HOST, ("https://app.example",), True),
        (None, None, (), True),
        # empty list: same origin only
        ("http://127.0.0.1:8000", HOST, (), True),
        ("https://127.0.0.1:8000", HOST, (), True),  # behind a TLS proxy the scheme differs
        ("http://COLLAB.example", "collab.example", (), True),
        ("http://127.0.0.1:8001", HOST, (), False),
        ("http://127.0.0.1", HOST, (), False),
        ("http://localhost:8000", HOST, (), False),
        ("http://evil.example", HOST, (), False),
        ("http://127.0.0.1:8000.evil.example", HOST, (), False),
        ("http://evil.example/127.0.0.1:8000", HOST, (), False),
        ("null", HOST, (), False),
        ("", HOST, (), False),
        ("http://127.0.0.1:8000", None, (), False),
        ("http://127.0.0.1:8000", "", (), False),
        # a list: exactly those
        ("https://app.example", HOST, ("https://app.example",), True),
        ("https://app.example", HOST, ("https://other.example", "https://app.example"), True),
        ("http://app.example", HOST, ("https://app.example",), False),
        ("https://app.example:443", HOST, ("https://app.example",), False),
        ("https://evil.example", HOST, ("https://app.example",), False),
        ("https://app.example.evil.example", HOST, ("https://app.example",), False),
        ("http://127.0.0.1:8000", HOST, ("https://app.example",), False),
        ("null", HOST, ("https://app.example",), False),
        # a star: anything
        ("http://evil.example", HOST, ("*",), True),
        ("null", HOST, ("https://app.example", "*"), True),
    ],
)
def test_origin_allowed(
    origin: str | None, host: str | None, allowed: tuple[str, ...], ok: bool
) -> None:
    assert origin_allowed(origin, host, allowed) is ok


# -- the message-rate token bucket -----------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def takes(bucket: TokenBucket, count: int) -> int:
    """How many of ``count`` takes succeed."""
    return sum(bucket.take() for _ in range(count))


def test_bucket_allows_a_burst_then_refuses() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 5, clock=clock)
    assert takes(bucket, 5) == 5
    assert bucket.take() is False
    assert bucket.take() is False  # refusals cost nothing and refill nothing


def test_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(8, 5, clock=clock)  # steps of 1/16 s are exact in binary
    assert takes(bucket, 5) == 5
    clock.now += 0.0625  # half a token
    assert bucket.take() is False
    clock.now += 0.0625  # now one
    assert bucket.take() is True
    assert bucket.take() is False
    clock.now += 0.4375  # three and a half
    assert takes(bucket, 10) == 3


def test_bucket_never_holds_more_than_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 3, clock=clock)
    clock.now += 3600
    assert takes(bucket, 10) == 3


def test_bucket_sustains_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 10, clock=clock)
    assert takes(bucket, 10) == 10
    allowed = 0
    for _ in range(10_000):  # 10 s in 1 ms steps, one attempt each
        clock.now += 0.001
        allowed += bucket.take()
    assert 499 <= allowed <= 501


def test_bucket_with_rate_zero_is_unlimited() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0, 1, clock=clock)
    assert takes(bucket, 100_000) == 100_000


def test_bucket_survives_a_clock_that_does_not_move() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, 2, clock=clock)
    assert takes(bucket, 1000) == 2


def test_bucket_fractional_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.5, 1, clock=clock)
    assert bucket.take() is True
    clock.now += 1.9
    assert bucket.take() is False
    clock.now += 0.1
    assert bucket.take() is True


def test_bucket_spends_into_debt_and_says_how_long_it_lasts() -> None:
    clock = FakeClock()
    bucket = TokenBucket(8, 2, clock=clock)
    bucket.spend()
    bucket.spend()
    assert bucket.debt_seconds() == 0.0  # empty, not in debt
    bucket.spend(4)
    assert bucket.debt_seconds() == 0.5  # 4 tokens at 8 per second
    clock.now += 0.25
    assert bucket.debt_seconds() == 0.25
    assert bucket.take() is False
    clock.now += 0.375  # out of debt, one token back
    assert bucket.debt_seconds() == 0.0
    assert bucket.take() is True


def test_bucket_unlimited_is_never_in_debt() -> None:
    bucket = TokenBucket(0, 1, clock=FakeClock())
    bucket.spend(1_000_000)
    assert bucket.debt_seconds() == 0.0


# -- settings --------------------------------------------------------------------------------


def serve_settings(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    """Settings as ``collab serve ARGV`` builds them, with ``environ`` as the environment."""
    args = cli.build_parser().parse_args(["serve", *argv])
    return Settings.from_sources(vars(args), environ or {})


def test_security_defaults() -> None:
    settings = serve_settings([])
    assert settings.allowed_origins == ()
    assert settings.auth_secret == ""
    assert settings.token_secret() == ""
    assert settings.auth_algorithm == "HS256"
    # No message rate by default: a fast writer is read as fast as the server takes it
    # (each connection gets its share of an event-loop turn); set, the rate slows it down.
    assert settings.max_messages_per_second == 0
    assert settings.message_burst > 0
    assert settings.rate_limit_close_seconds > 0
    assert settings.max_connections_per_document >= 1500  # the field's observer loads


def test_allowed_origin_flag_is_repeatable() -> None:
    settings = serve_settings(
        ["--allowed-origin", "https://app.example", "--allowed-origin", "https://b.example"]
    )
    assert settings.allowed_origins == ("https://app.example", "https://b.example")
    assert serve_settings(["--allowed-origin", "*"]).allowed_origins == ("*",)


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("https://app.example", ("https://app.example",)),
        ("https://app.example,https://b.example", ("https://app.example", "https://b.example")),
        (
            " https://app.example , https://b.example ,, ",
            ("https://app.example", "https://b.example"),
        ),
        ("*", ("*",)),
        ("", ()),
    ],
)
def test_allowed_origins_environment_is_comma_separated(
    value: str, origins: tuple[str, ...]
) -> None:
    assert serve_settings([], {"COLLAB_ALLOWED_ORIGINS": value}).allowed_origins == origins


def test_allowed_origin_flag_beats_the_environment() -> None:
    settings = serve_settings(
        ["--allowed-origin", "https://flag.example"],
        {"COLLAB_ALLOWED_ORIGINS": "https://env.example,https://env2.example"},
    )
    assert settings.allowed_origins == ("https://flag.example",)


def test_limit_flags_and_environment() -> None:
    settings = serve_settings(
        [
            "--max-messages-per-second",
            "2.5",
            "--message-burst",
            "7",
            "--max-connections",
            "3",
        ],
        {
            "COLLAB_MAX_CONNECTIONS": "99",
            "COLLAB_MAX_CONNECTIONS_PER_DOCUMENT": "4",
            "COLLAB_MAX_DOCUMENT_BYTES": "1234",
            "COLLAB_MAX_AWARENESS_BYTES": "321",
        },
    )
    assert settings.max_messages_per_second == 2.5
    assert settings.message_burst == 7
    assert settings.max_connections == 3  # the flag wins
    assert settings.max_connections_per_document == 4
    assert settings.max_document_bytes == 1234
    assert settings.max_awareness_bytes == 321


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (
            ["--auth-algorithm", "RS256"],
            {},
            "--auth-algorithm (COLLAB_AUTH_ALGORITHM) must be an HMAC algorithm",
        ),
        (
            [],
            {"COLLAB_AUTH_ALGORITHM": "none"},
            "--auth-algorithm (COLLAB_AUTH_ALGORITHM) must be an HMAC algorithm",
        ),
        (
            ["--ssl-certfile", "cert.pem"],
            {},
            "--ssl-certfile (COLLAB_SSL_CERTFILE) and --ssl-keyfile (COLLAB_SSL_KEYFILE) go",
        ),
        ([], {"COLLAB_SSL_KEYFILE": "key.pem"}, "--ssl-certfile (COLLAB_SSL_CERTFILE) and"),
        (
            ["--max-messages-per-second", "-1"],
            {},
            "--max-messages-per-second (COLLAB_MAX_MESSAGES_PER_SECOND) must not be negative,"
            " not -1",
        ),
        (["--message-burst", "0"], {}, "--message-burst (COLLAB_MESSAGE_BURST) must be positive"),
        (["--max-connections", "0"], {}, "--max-connections (COLLAB_MAX_CONNECTIONS) must be"),
        (["--max-connections-per-document", "0"], {}, "--max-connections-per-document (COLLAB_"),
        (
            ["--max-message-bytes", "0"],
            {},
            "--max-message-bytes (COLLAB_MAX_MESSAGE_BYTES) must be positive, not 0",
        ),
        ([], {"COLLAB_MAX_AWARENESS_BYTES": "-5"}, "--max-awareness-bytes (COLLAB_MAX_AWARE"),
        ([], {"COLLAB_MAX_CONNECTIONS": "many"}, "COLLAB_MAX_CONNECTIONS='many' is not a valid"),
        (["--log-format", "xml"], {}, "--log-format (COLLAB_LOG_FORMAT) must be text or json"),
        ([], {"COLLAB_PORT": "70000"}, "--port (COLLAB_PORT) must be between 0 and 65535"),
        (["--webhook-url", "ftp://x"], {}, "--webhook-url (COLLAB_WEBHOOK_URLS) must start"),
    ],
)
def test_bad_settings_are_refused_naming_the_flag_and_variable(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    """The user typed a flag or a variable, never a Python field name: the message names both
    (what ``collab serve`` prints on one line, exit status 2)."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        serve_settings(argv, environ)


S1 = "s1-" + "1" * 30
S2 = "s2-" + "2" * 30
FROM_FILE = "from-a-file-" + "f" * 20


def test_secret_from_flag_environment_or_file(tmp_path: Path) -> None:
    assert serve_settings(["--auth-secret", S1]).token_secret() == S1
    assert serve_settings([], {"COLLAB_AUTH_SECRET": S2}).token_secret() == S2
    assert serve_settings(["--auth-secret", S1], {"COLLAB_AUTH_SECRET": S2}).token_secret() == S1
    path = tmp_path / "secret"
    path.write_text(f"  {FROM_FILE}\n")
    assert serve_settings(["--auth-secret-file", str(path)]).token_secret() == FROM_FILE
    assert serve_settings([], {"COLLAB_AUTH_SECRET_FILE": str(path)}).token_secret() == FROM_FILE
    path.write_text("\n")
    with pytest.raises(SettingsError, match=re.escape("--auth-secret-file (COLLAB_AUTH_SECRET_")):
        serve_settings(["--auth-secret-file", str(path)]).token_secret()
    with pytest.raises(SettingsError, match="cannot read --auth-secret-file"):
        serve_settings(["--auth-secret-file", str(tmp_path / "missing")]).token_secret()


def test_secrets_under_32_bytes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="the auth secret is 31 bytes; use at least 32"):
        serve_settings(["--auth-secret", "x" * 31]).token_secret()
    # UTF-8 bytes, not characters: 11 three-byte characters are 33 bytes.
    assert serve_settings(["--auth-secret", "€" * 11]).token_secret() == "€" * 11
    path = tmp_path / "secret"
    path.write_text("short\n")
    with pytest.raises(SettingsError, match=f"the secret in {path} is 5 bytes"):
        serve_settings(["--auth-secret-file", str(path)]).token_secret()


# -- collab token ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800), ("45", 45)]
)
def test_parse_duration(ttl: str, seconds: float) -> None:
    assert cli.parse_duration(ttl) == seconds


@pytest.mark.parametrize("ttl", ["", "h", "1y", "-1h", "0", "0s", "soon"])
def test_parse_duration_refuses(ttl: str) -> None:
    with pytest.raises(SettingsError, match=r"^--ttl "):
        cli.parse_duration(ttl)


def test_collab_token_prints_a_verifiable_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLLAB_AUTH_SECRET", raising=False)
    monkeypatch.delenv("COLLAB_AUTH_SECRET_FILE", raising=False)
    before = time.time()
    status = cli.main(
        ["token", "team/*", "--role", "read", "--ttl", "30m", "--auth-secret", SECRET]
    )
    assert status == 0
    token = capsys.readouterr().out.strip()
    grant = verify_token(token, SECRET)
    assert (grant.doc, grant.role, grant.prefix) == ("team/*", Role.READ, "team/")
    assert before + 1800 - 1 <= grant.expires_at <= time.time() + 1800


def test_collab_token_defaults_and_environment_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLAB_AUTH_SECRET", SECRET)
    assert cli.main(["token", "team/notes"]) == 0
    grant = verify_token(capsys.readouterr().out.strip(), SECRET)
    assert (grant.doc, grant.role) == ("team/notes", Role.WRITE)
    assert 3500 < grant.expires_at - time.time() <= 3600


def test_collab_token_without_secret_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLLAB_AUTH_SECRET", raising=False)
    monkeypatch.delenv("COLLAB_AUTH_SECRET_FILE", raising=False)
    assert cli.main(["token", "team/notes"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "COLLAB_AUTH_SECRET" in captured.err
