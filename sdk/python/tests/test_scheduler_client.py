"""SchedulerClient against an in-process fake scheduler."""

import os
import tempfile
import unittest
from concurrent import futures

import grpc

import concord
from concord.scheduler.v1 import scheduler_pb2, scheduler_pb2_grpc
from concord.types.v1 import types_pb2


class FakeScheduler(scheduler_pb2_grpc.SchedulerServicer):
    def __init__(self):
        self.operators = {}
        self.authorizations = []
        self.replaces = []

    def _status(self, spec):
        return scheduler_pb2.OperatorStatus(spec=spec, version=1, instances=[
            scheduler_pb2.InstanceStatus(index=i) for i in range(spec.instances)])

    def Deploy(self, request, context):
        if request.spec.name in self.operators:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "operator %s is deployed" % request.spec.name)
        self.operators[request.spec.name] = request.spec
        return scheduler_pb2.DeployResponse(operator=self._status(request.spec))

    def Kill(self, request, context):
        if self.operators.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no operator %s" % request.name)
        return scheduler_pb2.KillResponse()

    def Scale(self, request, context):
        spec = self.operators[request.name]
        spec.instances = request.instances
        return scheduler_pb2.ScaleResponse(operator=self._status(spec))

    def Replace(self, request, context):
        self.replaces.append(request)
        instances = self.operators[request.spec.name].instances
        self.operators[request.spec.name] = request.spec
        request.spec.instances = instances
        return scheduler_pb2.ReplaceResponse(operator=self._status(request.spec), switch_ms=5, total_ms=5,
                                             restarted=request.drop_state)

    def List(self, request, context):
        self.authorizations.append(dict(context.invocation_metadata()).get("authorization"))
        return scheduler_pb2.ListResponse(operators=[self._status(s) for _, s in sorted(self.operators.items())])

    def Graph(self, request, context):
        return scheduler_pb2.GraphResponse(operators=[self._status(s) for s in self.operators.values()])


class SchedulerClientTests(unittest.TestCase):

    def setUp(self):
        self.fake = FakeScheduler()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        scheduler_pb2_grpc.add_SchedulerServicer_to_server(self.fake, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.addCleanup(lambda: self.server.stop(0).wait())
        self.address = "http://127.0.0.1:%d" % port
        self.client = concord.SchedulerClient(self.address, timeout_s=10, token="test-token")
        self.addCleanup(self.client.close)

    def test_deploy_dict_scale_list_graph_and_kill_round_trip(self):
        status = self.client.deploy({
            "name": "counter", "executable": "/usr/bin/python3", "args": ["counter.py"],
            "instances": 2, "inputs": [{"stream": "words", "grouping": "group_by"}],
            "outputs": ["counts"], "environment": {"A": "1"}})
        self.assertEqual(2, len(status.instances))
        spec = self.fake.operators["counter"]
        self.assertEqual(types_pb2.GROUPING_GROUP_BY, spec.expected_inputs[0].grouping)
        self.assertEqual(["counts"], list(spec.expected_outputs))
        self.assertEqual(3, len(self.client.scale("counter", 3).instances))
        self.assertEqual(["counter"], [o.spec.name for o in self.client.list()])
        self.assertEqual(1, len(self.client.graph().operators))
        self.client.kill("counter")
        self.assertEqual([], self.client.list())

    def test_every_call_carries_the_given_token_as_a_bearer(self):
        with concord.SchedulerClient(self.address, timeout_s=10, token="t0ken-given-explicitly") as client:
            client.list()
        self.assertEqual(["Bearer t0ken-given-explicitly"], self.fake.authorizations)

    def test_without_a_token_the_client_reads_CONCORD_TOKEN_then_the_homes_token_file(self):
        saved = {k: os.environ.get(k) for k in ("CONCORD_TOKEN", "CONCORD_HOME")}
        self.addCleanup(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                                 for k, v in saved.items()])
        with tempfile.TemporaryDirectory(prefix="cc-") as home:
            with open(os.path.join(home, "token"), "w", encoding="utf-8") as f:
                f.write("from-the-home-file\n")
            os.environ["CONCORD_HOME"] = home
            os.environ["CONCORD_TOKEN"] = "from-the-environment"
            with concord.SchedulerClient(self.address, timeout_s=10) as client:
                client.list()
            del os.environ["CONCORD_TOKEN"]
            with concord.SchedulerClient(self.address, timeout_s=10) as client:
                client.list()
        self.assertEqual(["Bearer from-the-environment", "Bearer from-the-home-file"], self.fake.authorizations)

    def test_errors_carry_the_status_code_and_the_schedulers_message(self):
        with self.assertRaises(concord.SchedulerError) as caught:
            self.client.kill("missing")
        self.assertEqual(grpc.StatusCode.NOT_FOUND, caught.exception.code)
        self.assertIn("no operator missing", str(caught.exception))

    def test_unknown_deploy_key_is_rejected_naming_it(self):
        with self.assertRaisesRegex(ValueError, "unknown keys instance"):
            self.client.deploy({"name": "x", "instance": 2})
        with self.assertRaisesRegex(ValueError, "grouping 'keyed'"):
            self.client.deploy({"name": "x", "inputs": [{"stream": "s", "grouping": "keyed"}]})

    def test_allow_cycles_is_a_deploy_key_and_must_be_a_boolean(self):
        from concord.scheduler_client import spec_from_deploy_dict
        self.assertTrue(spec_from_deploy_dict({"name": "x", "allow_cycles": True}).allow_cycles)
        self.assertFalse(spec_from_deploy_dict({"name": "x"}).allow_cycles)
        with self.assertRaisesRegex(ValueError, "allow_cycles is 'yes'"):
            spec_from_deploy_dict({"name": "x", "allow_cycles": "yes"})

    def test_delivery_is_read_and_a_wrong_one_is_refused_as_the_cli_refuses_it(self):
        from concord.scheduler_client import spec_from_deploy_dict
        self.assertEqual(types_pb2.DELIVERY_UNSPECIFIED, spec_from_deploy_dict({"name": "x"}).delivery)
        for name, value in (("at_most_once", types_pb2.DELIVERY_AT_MOST_ONCE),
                            ("at_least_once", types_pb2.DELIVERY_AT_LEAST_ONCE),
                            ("exactly_once", types_pb2.DELIVERY_EXACTLY_ONCE)):
            with self.subTest(delivery=name):
                self.assertEqual(value, spec_from_deploy_dict({"name": "x", "delivery": name}).delivery)
        with self.assertRaises(ValueError) as caught:
            spec_from_deploy_dict({"name": "x", "delivery": "exactly-once"})
        self.assertEqual('deploy spec: delivery: "exactly-once" is not a delivery guarantee; did you mean "exactly_once"? '
                         "use one of: at_most_once, at_least_once, exactly_once (default at_most_once; see docs/guarantees.md)",
                         str(caught.exception))
        with self.assertRaisesRegex(ValueError, 'delivery: expected a string, got a number; quote it: "2"'):
            spec_from_deploy_dict({"name": "x", "delivery": 2})

    def test_unavailable_reader_drop_after_ms_is_read_within_its_range(self):
        from concord.scheduler_client import spec_from_deploy_dict
        self.assertEqual(0, spec_from_deploy_dict({"name": "x"}).unavailable_reader_drop_after_ms)
        for ms in (1, 1000, 600000):
            with self.subTest(ms=ms):
                spec = spec_from_deploy_dict({"name": "x", "unavailable_reader_drop_after_ms": ms})
                self.assertEqual(ms, spec.unavailable_reader_drop_after_ms)
        for ms in (0, -5, 600001):
            with self.subTest(ms=ms), self.assertRaisesRegex(
                    ValueError, r"unavailable_reader_drop_after_ms: %d is out of range; use 1\.\.600000: how long" % ms):
                spec_from_deploy_dict({"name": "x", "unavailable_reader_drop_after_ms": ms})
        for value, got in (("3000", "a string"), (1.5, "1.5, which is not a whole number"), (True, "a boolean")):
            with self.subTest(value=value), self.assertRaisesRegex(
                    ValueError, "expected a whole number such as 3000, got %s" % got):
                spec_from_deploy_dict({"name": "x", "unavailable_reader_drop_after_ms": value})

    def test_image_is_read_and_a_wrong_type_or_empty_one_is_refused(self):
        from concord.scheduler_client import spec_from_deploy_dict
        self.assertEqual("", spec_from_deploy_dict({"name": "x"}).image)
        spec = spec_from_deploy_dict({"name": "x", "image": "registry.example.com/team/counter:1.0"})
        self.assertEqual("registry.example.com/team/counter:1.0", spec.image)
        with self.assertRaisesRegex(ValueError, "image: expected a string, got a number"):
            spec_from_deploy_dict({"name": "x", "image": 1})
        with self.assertRaisesRegex(ValueError, 'image: is empty; give an image reference'):
            spec_from_deploy_dict({"name": "x", "image": ""})

    def test_replace_sends_the_new_version_and_drop_state(self):
        self.client.deploy({"name": "counter", "executable": "/bin/true", "instances": 2, "delivery": "exactly_once"})
        rolling = self.client.replace({"name": "counter", "executable": "/bin/v2", "delivery": "exactly_once"})
        restarted = self.client.replace({"name": "counter", "executable": "/bin/v3", "delivery": "exactly_once"},
                                        drop_state=True)
        self.assertEqual([False, True], [r.drop_state for r in self.fake.replaces])
        self.assertEqual(["/bin/v2", "/bin/v3"], [r.spec.executable for r in self.fake.replaces])
        self.assertFalse(rolling.restarted)
        self.assertTrue(restarted.restarted)
        self.assertEqual(2, len(restarted.operator.instances))

    def test_delivery_and_drop_after_reach_the_scheduler(self):
        self.client.deploy({"name": "counter", "executable": "/bin/true", "delivery": "at_least_once",
                            "unavailable_reader_drop_after_ms": 250})
        spec = self.fake.operators["counter"]
        self.assertEqual(types_pb2.DELIVERY_AT_LEAST_ONCE, spec.delivery)
        self.assertEqual(250, spec.unavailable_reader_drop_after_ms)


if __name__ == "__main__":
    unittest.main()
