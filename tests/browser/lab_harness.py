"""Start JupyterLab and find Chromium for the browser test, keeping everything inside runs/.

Used by ``conftest.py``. Nothing here drives the page; that is in
``test_widgets_in_browser.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "runs"
OUT = RUNS / "browser"  # screenshots, reports and the server's log; per-run folders inside

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"  # an output that displays a widget

# How many notebooks run at once: on a 2-core machine a notebook's kernel keeps one core
# busy, and the next notebook runs while this one's widgets are checked.
PARALLEL = int(os.environ.get("BROWSER_PARALLEL", "2"))
OPEN_ESTIMATE_S = 3.0  # opening a notebook and starting its kernel, on a quiet machine

SUMMARY: list[str] = []  # one line per notebook checked, printed at the end of the run

INSTALL_HINT = (
    "no Chromium found, so the browser test is skipped. Install it with "
    "`sudo apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM=/path/to/chromium."
)

# The same folders as TEST_ENV in the Makefile, so running pytest directly writes nothing
# to $HOME either. Values already in the environment (from make) win.
HOME_DIRS = {
    "MPLCONFIGDIR": RUNS / "home" / "matplotlib",
    "JUPYTER_CONFIG_DIR": RUNS / "home" / "jupyter-config",
    "JUPYTER_DATA_DIR": RUNS / "home" / "jupyter-data",
    "JUPYTER_RUNTIME_DIR": RUNS / "home" / "jupyter-runtime",
    "IPYTHONDIR": RUNS / "home" / "ipython",
}

# JupyterLab settings for the test's own settings folder: never write the notebooks back
# (autosave off) and ask nothing about news or updates. Cells are windowed as a learner's
# JupyterLab does by default ("contentVisibility": every cell is in the page, but the
# browser skips laying out and painting those out of view; "none" costs Chromium about
# twice the CPU here).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "contentVisibility"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


def find_chromium() -> str | None:
    """The Chromium to drive: $CHROMIUM, else /usr/bin/chromium, else one on PATH; None if none."""
    override = os.environ.get("CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def recorded_seconds(notebook: Path) -> float:
    """How long the notebook's cells took in its last clean run, from their metadata; 0 if unknown.

    nbclient (``make notebooks``) stores when each cell started and finished under
    ``metadata.execution``; a notebook saved without those times counts as quick, and one
    that cannot be read too (opening it in JupyterLab then fails with a clear message).
    """
    try:
        cells = json.loads(notebook.read_text()).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return 0.0
    total = 0.0
    for cell in cells:
        times = cell.get("metadata", {}).get("execution", {})
        try:
            start = datetime.fromisoformat(times["iopub.execute_input"])
            end = datetime.fromisoformat(times["shell.execute_reply"])
        except (KeyError, TypeError, ValueError):
            continue
        total += max(0.0, (end - start).total_seconds())
    return total


def stored_widget_cells(notebook: Path) -> list[int]:
    """Indices of the cells whose saved outputs display a widget (from the last clean run)."""
    cells = json.loads(notebook.read_text())["cells"]
    return [
        i
        for i, cell in enumerate(cells)
        if any(WIDGET_MIME in out.get("data", {}) for out in cell.get("outputs", []))
    ]


def notebooks_to_check() -> list[Path]:
    """The notebooks to open: notebooks/*.ipynb, or what $BROWSER_NOTEBOOKS names.

    BROWSER_NOTEBOOKS may be a folder (all its *.ipynb) or one notebook, relative to
    the repository or absolute.
    """
    chosen = Path(os.environ.get("BROWSER_NOTEBOOKS", "notebooks"))
    if not chosen.is_absolute():
        chosen = REPO / chosen
    if chosen.suffix == ".ipynb":
        return [chosen]
    return sorted(p for p in chosen.glob("*.ipynb") if not p.name.startswith("."))


def start_order(
    notebooks: list[Path], seconds: Callable[[Path], float] = recorded_seconds
) -> list[Path]:
    """The order in which the notebooks start: longest recorded run first (ties by name).

    The slowest notebook then does not run alone at the end while a core sits idle.
    """
    return sorted(sorted(notebooks), key=seconds, reverse=True)


def finish_order(notebooks: list[Path], parallel: int = PARALLEL) -> list[Path]:
    """The order in which the notebooks should finish, ``parallel`` at a time in start order.

    The tests check the notebooks in this order, so each one's widgets are checked soon
    after it finishes, while the longer ones still run. A guess from the recorded times,
    each plus a few seconds to open: the test waits for whichever notebook it checks.
    """
    seconds = {notebook: recorded_seconds(notebook) for notebook in notebooks}  # read once
    lanes = [0.0] * max(1, parallel)
    finish: dict[Path, float] = {}
    for notebook in start_order(notebooks, seconds.__getitem__):
        lane = lanes.index(min(lanes))  # the next notebook starts when a lane is free
        lanes[lane] += seconds[notebook] + OPEN_ESTIMATE_S
        finish[notebook] = lanes[lane]
    return sorted(finish, key=finish.__getitem__)


def jupyter_env() -> dict[str, str]:
    """The environment for JupyterLab and its kernels: config folders in runs/, a learner's backend.

    MPLBACKEND (Agg in the Makefile's TEST_ENV) is removed: a learner's kernel uses the
    inline backend, and under Agg `plt.show()` would draw nothing into the page.
    """
    env = dict(os.environ)
    for name, path in HOME_DIRS.items():
        env.setdefault(name, str(path))
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.pop("MPLBACKEND", None)
    return env


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the test process dies.

    So a pytest killed without running its teardown (SIGKILL, a CI timeout) leaves no
    JupyterLab behind; on SIGTERM Jupyter shuts its kernels down itself.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab: its process, address and token, and where it logs."""

    process: subprocess.Popen[bytes]
    root: Path
    port: int
    token: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 30) -> str:
        """The last ``n`` lines of the server's log, for failure messages."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])


def write_lab_settings(settings_dir: Path) -> None:
    """Write LAB_SETTINGS as JupyterLab user settings into a fresh ``settings_dir``."""
    shutil.rmtree(settings_dir, ignore_errors=True)
    for plugin, values in LAB_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        target = settings_dir / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2))


def start_lab(root: Path, work_dir: Path, timeout: float = 90.0) -> LabServer:
    """Start JupyterLab on 127.0.0.1 serving ``root`` and wait until its API answers.

    It runs from this Python (the project's venv) in its own process group, with a random
    free port and token, and with its settings, workspaces and log in ``work_dir`` (one
    folder per test run, so two runs at once do not share them).
    Raises RuntimeError (after stopping it) if it does not come up within ``timeout`` s.
    """
    lab_dir = work_dir / "lab"
    write_lab_settings(lab_dir / "user-settings")
    # The page would ask the server to check JupyterLab's build: seconds of CPU, no use here.
    server_config = work_dir / "jupyter_server_config.json"
    page_config = {"buildCheck": False, "buildAvailable": False}
    server_config.write_text(
        json.dumps({"ServerApp": {"tornado_settings": {"page_config_data": page_config}}})
    )
    port, token = free_port(), secrets.token_hex(24)
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--config={server_config}",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={lab_dir / 'user-settings'}",
        f"--LabApp.workspaces_dir={lab_dir / 'workspaces'}",
        # An absolute folder: no .ipynb_checkpoints/ next to the notebooks.
        f"--FileCheckpoints.checkpoint_dir={work_dir / 'checkpoints'}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = work_dir / "jupyterlab.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            cmd, cwd=root, env=jupyter_env(), stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
    server = LabServer(process, root.resolve(), port, token, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            url = f"{server.base_url}/api/status?token={token}"
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    stop_lab(server)
    raise RuntimeError(
        f"JupyterLab did not start within {timeout:.0f} s (exit code {process.returncode});"
        f" the end of {log}:\n{server.log_tail()}"
    )


def shutdown_kernels(server: LabServer) -> None:
    """Ask the server to shut down every kernel it still runs (each runs in its own session)."""
    try:
        with urllib.request.urlopen(
            f"{server.base_url}/api/kernels?token={server.token}", timeout=5
        ) as r:
            kernels = json.load(r)
        for kernel in kernels:
            request = urllib.request.Request(
                f"{server.base_url}/api/kernels/{kernel['id']}?token={server.token}",
                method="DELETE",
            )
            urllib.request.urlopen(request, timeout=15).close()
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        pass  # the server is gone or unwell: SIGTERM below still asks it to clean up


def stop_lab(server: LabServer, grace: float = 15.0) -> None:
    """Stop the server by its own process id, after shutting its kernels down.

    Kernels are shut down through the API, then SIGTERM goes to the server's pid (Jupyter
    then stops any kernel left); after ``grace`` seconds SIGKILL goes to the process group
    the server leads (it was started in a new session).
    """
    process = server.process
    if process.poll() is None:
        shutdown_kernels(server)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # leftovers only: the group is the server's own
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait(timeout=5)
