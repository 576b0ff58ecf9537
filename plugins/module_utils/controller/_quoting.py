# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values written into generated files, quoted or refused for the file's format.

The preflight checks every variable for its meaning first (module_utils/controller/_rolevars.py); this is the
second line of defence, used by the roles' templates through the filter meshover.mesh.quote_for. A
value that the preflight's rules allow comes out unchanged, so the files the roles write do not change
because of it. Anything else is quoted where the format can quote (an argument of a systemd command
line, a sudoers word) and refused where it cannot (a unit name, a plain systemd setting, an nft string).
"""

from __future__ import annotations

import re

FORMATS = ("systemd-exec", "systemd-value", "systemd-unit", "sudoers", "nft")

_PLAIN = re.compile(r"[A-Za-z0-9._+@/:=,-]+")
_UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SUDOERS_SPECIAL = re.compile(r'([\\,:=()"\s!#])')
_NFT_BAD = re.compile(r'["\\\x00-\x1f\x7f]')


class QuotingError(ValueError):
    """The value cannot be written in that format."""


def quote_for(value: object, fmt: str) -> str:
    """value as text that the format reads back as exactly value, or QuotingError."""
    text = "" if value is None else str(value)
    if fmt not in FORMATS:
        raise QuotingError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    if _CONTROL.search(text):
        raise QuotingError(f"{text!r} has a control character (newline, tab, ...), which no {fmt} value may hold")
    if fmt == "systemd-exec":
        return _systemd_exec(text)
    if fmt == "systemd-value":
        if not _PLAIN.fullmatch(text):
            raise QuotingError(
                f"{text!r} cannot be a systemd setting's value: only letters, digits and ._+@/:=,- are written unquoted"
            )
        return text
    if fmt == "systemd-unit":
        if not _UNIT.fullmatch(text):
            raise QuotingError(f"{text!r} cannot be (part of) a unit name: letters, digits and :_.@\\- only")
        return text
    if fmt == "sudoers":
        if not text:
            raise QuotingError("an empty word cannot be written in sudoers")
        return _SUDOERS_SPECIAL.sub(r"\\\1", text)
    # nft: inside "...", which nft cannot escape
    if _NFT_BAD.search(text):
        raise QuotingError(f"{text!r} cannot be an nft string: no double quote or backslash")
    return text


def _systemd_exec(text: str) -> str:
    """One argument of ExecStart= and friends (systemd.service(5), "Command lines"): unchanged when plain,
    else in double quotes with \\ and " escaped; % (specifiers) and $ (environment) doubled either way."""
    if text and _PLAIN.fullmatch(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'
