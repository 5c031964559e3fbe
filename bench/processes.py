"""What every benchmark here spawns, and how it is torn down: a registry of processes and temp dirs so that
exit, error, Ctrl-C or SIGTERM never leaves one behind."""
import os
import shutil
import signal
import subprocess

PROCS = {}  # pid -> Popen
TEMP_DIRS = []


def spawn(argv, log_path):
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()
    PROCS[proc.pid] = proc
    return proc


def kill_proc(proc, grace=0):
    """SIGTERM and up to `grace` seconds to exit cleanly (0: none), then SIGKILL."""
    if grace and proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    PROCS.pop(proc.pid, None)


def teardown_everything(grace=0):
    for proc in list(PROCS.values()):
        kill_proc(proc, grace)
    for d in list(TEMP_DIRS):
        shutil.rmtree(d, ignore_errors=True)
        TEMP_DIRS.remove(d)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")
