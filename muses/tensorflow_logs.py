"""Keep TensorFlow's C++ start-up lines off the console of every MUSES process.

Importing TensorFlow prints, through absl before its logging is initialised, lines that
TF_CPP_MIN_LOG_LEVEL cannot silence (oneDNN, the CPU feature guard), and prints them once
per shared library it loads. They bury what a user needs to see (the demo's admin
password and URL, a command's own messages). The settings call :func:`tensorflow_quiet`
unless MUSES_DEBUG=1: TensorFlow's later C++ logs are limited to errors, and the import
itself runs with the process's stderr filtered: the known start-up lines are dropped,
anything else is written out when the import ends.
"""

import importlib.abc
import importlib.util
import os
import sys
import threading
from contextlib import contextmanager

START_UP_NOISE = (
    b"absl::InitializeLog()",
    b"oneDNN custom operations are on",
    b"cpu_feature_guard.cc",
    b"To enable the following instructions",
    b"rebuild TensorFlow with the appropriate compiler flags",
)


def tensorflow_quiet() -> None:
    """Quiet TensorFlow's C++ logs before it is imported (a no-op once it is)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ errors only
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietImport())


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, through the other finders, with a filtering loader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with stderr_without(START_UP_NOISE):
            self.loader.exec_module(module)


@contextmanager
def stderr_without(noise: tuple[bytes, ...]):
    """Run the block with file descriptor 2 going into a pipe; afterwards write the lines
    that contain none of `noise` to the real stderr. C++ code writes to the descriptor,
    so replacing sys.stderr alone would not do."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    captured: list[bytes] = []
    # A thread drains the pipe, so a chatty import cannot fill it and block.
    reader = threading.Thread(target=_drain, args=(read_end, captured), daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the reader sees its end
        os.close(saved)
        reader.join()
        os.close(read_end)
        kept = [
            line
            for line in b"".join(captured).splitlines(keepends=True)
            if not any(word in line for word in noise)
        ]
        if kept:
            os.write(2, b"".join(kept))


def _drain(fd: int, into: list[bytes]) -> None:
    while chunk := os.read(fd, 65536):
        into.append(chunk)
