"""An operator that misbehaves the way containment must handle (docs/security.md, "Containment").
Selected by CONTAINMENT_MODE:

stubborn  ignores SIGTERM, never returns from destroy(), and starts two children that ignore
          SIGTERM too: one forked (in its process group) and one in a session of its own
          (setsid: outside the group, and without the parent-death signal). Their pids are
          written to "children" in the working directory.
hog       allocates memory in init() until the kernel stops it (past the deploy file's mem).

Run with sdk/python on PYTHONPATH and /usr/bin/python3 (python3-grpcio)."""

import os
import signal
import subprocess
import time

import concord

#: Allocation step of the hog, in bytes: 16 MiB, written to so the pages are really used.
HOG_STEP_BYTES = 16 * 1024 * 1024
#: The hog's own ceiling, in bytes: 4 GiB, far past any test's mem; reaching it means no limit.
HOG_CEILING_BYTES = 4 * 1024 * 1024 * 1024
#: A child's sleep, in seconds: longer than any test; the test kills it or fails.
CHILD_SLEEP_S = 3600


class ContainmentOperator(concord.Computation):
    def __init__(self, mode, name):
        self.mode = mode
        self.name = name
        self.hoard = []

    def metadata(self):
        return concord.Metadata(name=self.name, istreams=[], ostreams=["out"])

    def init(self, ctx):
        if self.mode == "stubborn":
            stubborn_child = ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
            forked = subprocess.Popen(stubborn_child)
            escaped = subprocess.Popen(stubborn_child, start_new_session=True)
            with open("children.tmp", "w") as f:
                f.write("%d\n%d\n" % (forked.pid, escaped.pid))
            os.replace("children.tmp", "children")
        elif self.mode == "hog":
            total = 0
            while total < HOG_CEILING_BYTES:
                self.hoard.append(b"\x01" * HOG_STEP_BYTES)
                total += HOG_STEP_BYTES
            raise RuntimeError("allocated %d bytes without being stopped: mem is not enforced" % total)

    def process_record(self, ctx, record):
        pass

    def destroy(self):
        if self.mode == "stubborn":
            time.sleep(CHILD_SLEEP_S)


if __name__ == "__main__":
    if os.environ.get("CONTAINMENT_MODE") == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    concord.serve_computation(ContainmentOperator(os.environ.get("CONTAINMENT_MODE", ""),
                                                  os.environ.get("CONCORD_OPERATOR_NAME", "containment")))
