"""Commands and modules that touch no model import neither TensorFlow nor Keras: tools start
at once, and a web worker holds no TensorFlow unless it serves a model."""

import os
import re
import subprocess
import sys

import pytest

from tests.test_deploy import ROOT

MACHINE_LEARNING = re.compile(r"\|\s*(keras|tensorflow|tf_keras)(\.|\s*$)", re.MULTILINE)


def importtime(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "muses.settings", "MUSES_VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def machine_learning_imported(result: subprocess.CompletedProcess) -> list[str]:
    return sorted({m.group(1) for m in MACHINE_LEARNING.finditer(result.stderr)})


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["muses_import", "--help"],
        ["help"],
        ["muses_train_model", "--help"],
        ["muses_classify", "--help"],
    ],
    ids=" ".join,
)
def test_a_management_command_that_touches_no_model_imports_no_keras(tmp_path, command):
    result = importtime(tmp_path, "manage.py", *command)
    assert result.returncode == 0, result.stderr[-2000:]
    assert machine_learning_imported(result) == []


def test_the_seeds_import_paths_work_without_importing_keras(tmp_path):
    code = (
        "import django; django.setup()\n"
        "from muses.naive_classification.helpers import setup_classifier\n"
        "from muses.naive_classification.muses_cnn import MusesClassifier\n"
        "from naive_classification.definitions import LABEL_SMOOTHING\n"
        "print(setup_classifier.__name__, MusesClassifier.__name__, LABEL_SMOOTHING)\n"
    )
    result = importtime(tmp_path, "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["setup_classifier", "MusesClassifier", "0.1"]
    assert machine_learning_imported(result) == []


def test_the_web_application_loads_every_url_and_admin_without_keras(tmp_path):
    code = (
        "from muses.wsgi import application\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "from django.contrib import admin; admin.autodiscover()\n"
    )
    result = importtime(tmp_path, "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert machine_learning_imported(result) == []


def test_the_check_itself_sees_keras_when_a_module_imports_it(tmp_path):
    result = importtime(tmp_path, "-c", "import keras")
    assert machine_learning_imported(result) == ["keras", "tensorflow"]
