# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values quoted or refused for the file they are written into (the templates' second line of defence)."""

from __future__ import annotations

import shlex

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._quoting import QuotingError, quote_for


@pytest.mark.parametrize("fmt", ["systemd-exec", "systemd-value", "systemd-unit", "sudoers", "nft"])
def test_plain_values_are_unchanged(fmt):
    for value in ("meshover0", "/opt/meshover/exporter.py", "meshover-exporter", "frr_1"):
        if fmt == "systemd-unit" and "/" in value:
            continue
        assert quote_for(value, fmt) == value


@pytest.mark.parametrize("fmt", ["systemd-exec", "systemd-value", "systemd-unit", "sudoers", "nft"])
def test_control_characters_are_refused_everywhere(fmt):
    with pytest.raises(QuotingError, match="control character"):
        quote_for("a\nExecStartPre=/bin/rm -rf /", fmt)


def test_systemd_exec_quotes_and_escapes():
    assert quote_for("/opt/my dir/x.py", "systemd-exec") == '"/opt/my dir/x.py"'
    assert quote_for('a"b\\c', "systemd-exec") == '"a\\"b\\\\c"'
    # specifiers and environment variables are not expanded
    assert quote_for("%h/$HOME", "systemd-exec") == '"%%h/$$HOME"'
    assert quote_for("", "systemd-exec") == '""'
    # what systemd's own splitting gives back (for these characters it is the shell's)
    assert shlex.split(quote_for("/opt/my dir/x.py", "systemd-exec")) == ["/opt/my dir/x.py"]


@pytest.mark.parametrize(
    ("fmt", "value", "words"),
    [
        ("systemd-value", "a b", "cannot be a systemd setting's value"),
        ("systemd-value", "x;y", "cannot be a systemd setting's value"),
        ("systemd-unit", "wg0 other", "cannot be (part of) a unit name"),
        ("systemd-unit", "a/b", "cannot be (part of) a unit name"),
        ("nft", 'x" accept', "cannot be an nft string"),
        ("nft", "x\\y", "cannot be an nft string"),
        ("sudoers", "", "empty word"),
        ("yaml", "x", "unknown format"),
    ],
)
def test_refused(fmt, value, words):
    with pytest.raises(QuotingError, match=words.replace("(", r"\(").replace(")", r"\)")):
        quote_for(value, fmt)


def test_sudoers_escapes_its_special_characters():
    assert quote_for("a b,c:d=e(f)g!h#i", "sudoers") == "a\\ b\\,c\\:d\\=e\\(f\\)g\\!h\\#i"
    assert quote_for("/usr/local/bin/x", "sudoers") == "/usr/local/bin/x"
