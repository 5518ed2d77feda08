"""Webhooks cannot reach the other members of the cluster (issue 10, point 3).

The nodes run with the harness's --outbound-allow 127.0.0.1, which opens loopback
receivers but names no port: every member's HTTP and raft address (from the node
registry) stays refused, on every node, while a receiver on another loopback port is
delivered to."""

import json
import time
import unittest

from imgarc_cluster import ClusterTestCase
from imgarc_node import make_pdf
from test_webhooks_outbound import Receiver

ARGS = ["--webhook-retry-ms", "200", "--webhook-retry-max-ms", "400",
        "--webhook-attempts", "2"]


class WebhooksClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("whc", 2, extra_args=ARGS)

    def create(self, node, url):
        return node.request("POST", "/api/v1/webhooks", body=json.dumps(
            {"url": url, "events": ["ready"]}).encode(),
            headers={"Content-Type": "application/json"})

    def test_every_members_http_and_raft_address_is_refused_on_every_node(self):
        for asking in self.cluster.nodes:
            for target in self.cluster.nodes:
                for what, port in (("HTTP", target.http_port), ("raft", target.raft_port)):
                    with self.subTest(asking=asking.name, target=target.name, what=what):
                        r = self.create(asking, "http://127.0.0.1:%d/x" % port)
                        self.assertError(r, 400, 11005, "invalid_field")
                        m = r.json["message"]
                        self.assertIn("127.0.0.1:%d is " % port, m)
                        if target is not asking:
                            self.assertIn("the %s address of cluster node %s" % (
                                what, self.cluster.node_id(target)), m)
                        self.assertIn("--outbound-allow", m)

    def test_a_receiver_on_another_port_is_delivered_to(self):
        rx = Receiver()
        self.addCleanup(rx.stop)
        follower = self.cluster.followers()[0]
        r = self.create(follower, rx.url)
        self.assertStatus(r, 201)
        self.addCleanup(lambda: self.cluster.leader().request(
            "DELETE", "/api/v1/webhooks/" + r.json["id"]))
        self.assertIn(follower.pool_push({"image_no": "WHC-1", "bill_no": "B"}).status,
                      (200, 201))
        self.assertStatus(follower.upload("WHC-1", make_pdf(text="WHC-1"), name="a.pdf"), 201)
        self.assertStatus(follower.submit("WHC-1"), 200)
        deadline = time.time() + 60
        while not rx.received():
            self.assertLess(time.time(), deadline, "the receiver never got the delivery")
            time.sleep(0.1)


if __name__ == "__main__":
    unittest.main()
