"""Node.js for the tests that run the pages' scripts outside a browser
(``make browser`` installs it beside Chromium). Without it those tests are
skipped, unless SATMACHINEADMIN_REQUIRE_BROWSER=1 (CI), where they fail."""

from __future__ import annotations

import os
import shutil

import pytest

NODE = shutil.which("node")


def node_tests() -> pytest.MarkDecorator:
    """The mark for a module of Node tests."""
    required = os.environ.get("SATMACHINEADMIN_REQUIRE_BROWSER") == "1"
    return pytest.mark.skipif(
        NODE is None and not required, reason="Node.js is not installed"
    )
