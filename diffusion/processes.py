"""Starting training processes: children of a fork server that has imported torch already.

A fresh interpreter spends seconds importing torch before its first step; a child forked from a
server that has done so starts at once (`benchmarks/bench_start_latency.py` measures both). The
fork server is started by `warm_up()` when the dashboard draws its first page.

One change to multiprocessing's launch: it makes each child re-run the parent's `__main__` so that
functions defined there can be found. Inside Streamlit `__main__` is the app script, so every
child would run the app. The training function lives in `diffusion.worker`, so the child needs no
main module, and `_Popen` leaves it out.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from multiprocessing import forkserver, popen_forkserver, spawn, util
from multiprocessing.context import reduction, set_spawning_popen

_CONTEXT = multiprocessing.get_context("forkserver")
# torch._dynamo: the first optimiser a process builds imports it; the fork server pays once.
_CONTEXT.set_forkserver_preload(["torch", "torch._dynamo", "diffusion.worker"])


class _Popen(popen_forkserver.Popen):
    """CPython 3.11's forkserver launch without the main module's preparation data."""

    def _launch(self, process_obj):
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)  # the child watches it to notice a dead parent
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class TrainingProcess(_CONTEXT.Process):
    """A multiprocessing.Process forked from the fork server."""

    @staticmethod
    def _Popen(process_obj):
        return _Popen(process_obj)


def pipe():
    """A duplex pipe (two Connections) between the server and a training process."""
    return _CONTEXT.Pipe(duplex=True)


def warm_up() -> None:
    """Start the fork server now (it imports torch in the background), so the first Start is quick."""
    forkserver.ensure_running()
