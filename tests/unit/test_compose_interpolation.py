"""deploy/secrets/compose.py substitutes as compose documents it (compose-file reference,
"Interpolation"; "Syntax for environment files"): each case below is one of those rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.secrets.compose import (
    InterpolationError,
    Project,
    interpolate,
    missing_variables,
    parse_env_file,
)

ENV = {"SET": "value", "EMPTY": "", "FOO": "foo"}


@pytest.mark.parametrize(("text", "expected"), [
    ("${SET}", "value"),
    ("$SET", "value"),
    ("a-$SET-b", "a-value-b"),
    ("${UNSET}", ""),  # compose warns and substitutes an empty string
    ("$UNSET/x", "/x"),
    ("${SET:-default}", "value"),
    ("${EMPTY:-default}", "default"),
    ("${UNSET:-default}", "default"),
    ("${SET-default}", "value"),
    ("${EMPTY-default}", ""),  # `-` without `:`: only unset takes the default
    ("${UNSET-default}", "default"),
    ("${SET:?must}", "value"),
    ("${EMPTY?must}", ""),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-${FOO}}", "foo"),  # nested operands
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${SET:-${NEVER:?not evaluated}}", "value"),
    ("$$SET", "$SET"),  # $$ is a literal dollar and stops interpolation
    ("cost: $$5", "cost: $5"),
    ("$5 and $ alone", "$5 and $ alone"),  # a $ that starts no name is kept
    ("http://x/{document_ref}/verify", "http://x/{document_ref}/verify"),
    ("${UNSET:-a:b/c?d}", "a:b/c?d"),
])
def test_substitution(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(("text", "variable", "message"), [
    ("${UNSET:?run make secrets}", "UNSET", "run make secrets"),
    ("${EMPTY:?must be set}", "EMPTY", "must be set"),
    ("${UNSET?$FOO}", "UNSET", "foo"),  # the message is interpolated too
])
def test_a_required_variable_stops_with_its_name_and_message(
        text: str, variable: str, message: str) -> None:
    with pytest.raises(InterpolationError) as refused:
        interpolate(text, ENV)
    assert refused.value.variable == variable
    assert str(refused.value) == f"required variable {variable} is missing a value: {message}"


@pytest.mark.parametrize("text", ["${SET/foo/bar}", "${}", "${SET", "${1ABC}"])
def test_unsupported_or_malformed_expressions_are_refused(text: str) -> None:
    with pytest.raises(InterpolationError):
        interpolate(text, ENV)


def test_every_missing_variable_is_named_not_only_the_first() -> None:
    doc = {"services": {"a": {"environment": {"X": "${ONE:?one}", "Y": "${TWO:?two}-${ONE:?}",
                                              "Z": "${THREE:-fine}"}},
                        "b": {"command": ["${FOUR?four}"]}}}
    assert set(missing_variables(doc, {})) == {"ONE", "TWO", "FOUR"}
    assert missing_variables(doc, {"ONE": "1", "TWO": "2", "FOUR": ""}) == {}


def test_env_file_syntax() -> None:
    text = "\n".join([
        "# a comment",
        "",
        "PLAIN=VAL",
        "SPACED = spaced value  ",
        "export EXPORTED=yes",
        "COMMENTED=VAL # comment",
        "NOT_A_COMMENT=VAL# not a comment",
        'DOUBLE="VAL # not a comment" # comment',
        "SINGLE='$OTHER ${OTHER}'",
        "ESCAPED_SINGLE='Let\\'s go!'",
        'JSON="{\\"hello\\": \\"json\\"}"',
        'TABS="some\\tvalue"',
        "RAW_TABS='some\\tvalue'",
        "REF=${PLAIN}-$FROM_SHELL",
        'DOUBLE_REF="${PLAIN} \\$PLAIN"',
        "UNQUOTED_JSON={\"a\":\"b\"}",
        'MULTI="line one',
        'line two"',
        "EMPTY=",
    ])
    values = parse_env_file(text, {"FROM_SHELL": "shell"})
    assert values == {
        "PLAIN": "VAL", "SPACED": "spaced value", "EXPORTED": "yes", "COMMENTED": "VAL",
        "NOT_A_COMMENT": "VAL# not a comment", "DOUBLE": "VAL # not a comment",
        "SINGLE": "$OTHER ${OTHER}", "ESCAPED_SINGLE": "Let's go!",
        "JSON": '{"hello": "json"}', "TABS": "some\tvalue", "RAW_TABS": "some\\tvalue",
        "REF": "VAL-shell", "DOUBLE_REF": "VAL $PLAIN", "UNQUOTED_JSON": '{"a":"b"}',
        "MULTI": "line one\nline two", "EMPTY": "",
    }


def test_a_line_that_is_no_assignment_is_refused() -> None:
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_env_file("JUST_A_NAME\n")


def test_project_reads_dotenv_under_the_shell_and_resolves_bind_mounts(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("IMAGE_TAG=from-dotenv\nSECRET=s3cret\n")
    compose = tmp_path / "compose.yml"
    compose.write_text("""
x-env: &env
  SHARED: ${SECRET:?run make secrets}
services:
  app:
    image: app:${IMAGE_TAG}
    environment:
      <<: *env
      PORT: 8000
      FLAG: true
      KEYS: /run/keys/a.p12
    volumes:
      - data:/var/data
      - ./secrets/keys:/run/keys:ro
      - type: bind
        source: ./conf
        target: /etc/app
  listed:
    image: x
    environment: ["A=1", "B=${SECRET}"]
""")
    project = Project.load(compose, environ={"IMAGE_TAG": "from-shell"})
    assert project.service("app")["image"] == "app:from-shell"  # the shell wins
    assert project.environment("app") == {"SHARED": "s3cret", "PORT": "8000", "FLAG": "true",
                                          "KEYS": "/run/keys/a.p12"}
    assert project.environment("listed") == {"A": "1", "B": "s3cret"}
    mounts = project.mounts("app")
    assert [(m.source, m.target, m.read_only) for m in mounts] == [
        (tmp_path / "secrets" / "keys", "/run/keys", True),
        (tmp_path / "conf", "/etc/app", False)]
    assert project.host_path("app", "/run/keys/a.p12") == tmp_path / "secrets/keys/a.p12"
    assert project.host_path("app", "/run/keysmith") is None
    (tmp_path / ".env").write_text("IMAGE_TAG=x\n")
    with pytest.raises(InterpolationError, match="SECRET"):
        Project.load(compose)
