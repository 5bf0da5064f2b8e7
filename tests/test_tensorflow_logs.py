"""TensorFlow's C++ start-up lines stay off the console of MUSES processes."""

import os
import subprocess
import sys

from muses.tensorflow_logs import START_UP_NOISE, stderr_without
from tests.test_deploy import ROOT

IMPORT_TENSORFLOW = "import django; django.setup(); import tensorflow; print('imported')"


def run_python(tmp_path, code: str, **environ: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "muses.settings", "MUSES_VAR_DIR": str(tmp_path)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_tensorflow_in_a_muses_process_prints_nothing(tmp_path):
    result = run_python(tmp_path, IMPORT_TENSORFLOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"
    assert "oneDNN" not in result.stderr
    assert "absl::InitializeLog" not in result.stderr
    assert "cpu_feature_guard" not in result.stderr


def test_with_muses_debug_tensorflows_start_up_lines_are_shown(tmp_path):
    result = run_python(tmp_path, IMPORT_TENSORFLOW, MUSES_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "oneDNN custom operations are on" in result.stderr


def test_the_filter_keeps_every_other_line_written_meanwhile(capfd):
    with stderr_without(START_UP_NOISE):
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. ...\n")
        os.write(2, b"E0000 a real error from C++\n")
        print("a Python warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert "oneDNN" not in err
    assert "a real error from C++" in err and "a Python warning" in err
