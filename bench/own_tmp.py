"""Imported first by the benchmarks that start the app or gradio_client: this process and its subprocesses get a
temporary folder of their own (TMPDIR, GRADIO_TEMP_DIR), removed at exit, so that nothing is left in the system's
(gradio_client leaves a <40 hex> folder for every file it downloads, gradio its cache in /tmp/gradio)."""
import atexit
import os
import shutil
import signal
import sys
import tempfile

OWN_TMP = tempfile.mkdtemp(prefix="vae-explorer-bench-")
os.environ["TMPDIR"] = tempfile.tempdir = OWN_TMP
os.environ["GRADIO_TEMP_DIR"] = os.path.join(OWN_TMP, "gradio")
atexit.register(shutil.rmtree, OWN_TMP, ignore_errors=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped benchmark removes its folder as well
