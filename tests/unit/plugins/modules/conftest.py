# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json

import pytest
from module_args import patch_module_args


@pytest.fixture
def run_module(capsys):
    """Run a module's main() with these arguments; return (exit code, parsed JSON result)."""

    def _run(main, args):
        with patch_module_args(args), pytest.raises(SystemExit) as exc:
            main()
        return exc.value.code, json.loads(capsys.readouterr().out)

    return _run
