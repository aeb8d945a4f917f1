"""Print the deployed operators and stream edges of a running Concord scheduler.

    PYTHONPATH=sdk/python /usr/bin/python3 sdk/python/examples/list_topology.py [ADDRESS]

ADDRESS defaults to $CONCORD_SCHEDULER_ADDRESS, then http://127.0.0.1:7400.
"""

import os
import sys

import concord
from concord.scheduler.v1 import scheduler_pb2
from concord.types.v1 import types_pb2


def main():
    address = (sys.argv[1] if len(sys.argv) > 1
               else os.environ.get("CONCORD_SCHEDULER_ADDRESS", "http://127.0.0.1:7400"))
    try:
        with concord.SchedulerClient(address) as client:
            graph = client.graph()
    except concord.SchedulerError as exc:
        print("cannot read the topology from %s: %s (is `concord up` running?)" % (address, exc),
              file=sys.stderr)
        return 1
    for op in graph.operators:
        states = [scheduler_pb2.InstanceState.Name(i.state).replace("INSTANCE_STATE_", "").lower()
                  for i in op.instances]
        print("%-20s %d instance(s): %s" % (op.spec.name, len(op.instances), ", ".join(states)))
    for edge in graph.edges:
        grouping = types_pb2.Grouping.Name(edge.grouping).replace("GROUPING_", "").lower()
        print("  %s --%s(%s)--> %s" % (edge.from_operator, edge.stream, grouping, edge.to_operator))
    return 0


if __name__ == "__main__":
    sys.exit(main())
