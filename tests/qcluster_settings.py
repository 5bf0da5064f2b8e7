"""Settings of a real `manage.py qcluster` started by the Redis queue tests.

The test settings, with jobs queued rather than run in-process, the test run's database,
a fast heartbeat, and the custom-tagging tests' numpy backbone: one whose feature
extraction can be held (a file exists) so a test can SIGKILL the worker in mid-job.
"""

import os
import time
from pathlib import Path

from tests.settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["MUSES_TEST_DATABASE_NAME"]  # noqa: F405
Q_CLUSTER = {  # noqa: F405
    **Q_CLUSTER,  # noqa: F405
    "sync": False,
    "cluster_name": os.environ["MUSES_TEST_Q_CLUSTER"],
    "workers": 1,
    "timeout": 120,
    "retry": 720,
}
MUSES_JOB_HEARTBEAT_S = 0.5
MUSES_BACKBONE = "tiny_tagging"

HOLD_FILE = Path(os.environ["MUSES_TEST_HOLD_FILE"])
PID_FILE = Path(os.environ["MUSES_TEST_PID_FILE"])
HOLD_LIMIT_S = 60


def _build_holdable(weights, input_size):
    from tests.custom_tagging.conftest import NumpyBackbone

    class HoldableBackbone(NumpyBackbone):
        def extract(self, batch, *, batch_size: int = 32):
            PID_FILE.write_text(str(os.getpid()))
            deadline = time.monotonic() + HOLD_LIMIT_S
            while HOLD_FILE.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return super().extract(batch, batch_size=batch_size)

    return HoldableBackbone()


def _register_backbone():
    from muses.vision import backbones

    backbones.BACKBONES[MUSES_BACKBONE] = (_build_holdable, 32)


_register_backbone()
