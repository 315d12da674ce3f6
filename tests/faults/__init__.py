"""Start a test's worker with faults injected (see sitecustomize.py here)."""

from pathlib import Path

from consumers.worker import WorkerProcess

FOLDER = Path(__file__).parent


def inject_faults(worker: WorkerProcess, **faults: str) -> None:
    """The worker's next starts run with `faults`: CDRFLOW_FAULT_<NAME> variables by lower-case name."""
    worker.env["PYTHONPATH"] = str(FOLDER)
    worker.env.update({f"CDRFLOW_FAULT_{name.upper()}": value for name, value in faults.items()})


def clear_faults(worker: WorkerProcess) -> None:
    for name in [name for name in worker.env if name.startswith("CDRFLOW_FAULT_")]:
        del worker.env[name]
    worker.env.pop("PYTHONPATH", None)
