"""Helpers for the thin ``workflow_scripts``: logging to the rule's ``log:`` file and reading params."""
from __future__ import annotations

import contextlib
import json
import sys
import traceback
from typing import Any, Iterator


@contextlib.contextmanager
def logged(snakemake: Any) -> Iterator[None]:
    """Send the job's stdout/stderr to its ``log:`` file (also the traceback of a failure)."""
    if not snakemake.log:
        yield
        return
    with open(snakemake.log[0], "w", buffering=1) as fh:
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = fh
        try:
            yield
        except BaseException:
            traceback.print_exc(file=fh)
            raise
        finally:
            sys.stdout, sys.stderr = old


def param(snakemake: Any, name: str) -> Any:
    """A JSON-encoded param (rules pass dicts as canonical JSON so that changes rerun their jobs)."""
    value = getattr(snakemake.params, name)
    return json.loads(value) if isinstance(value, str) else value
