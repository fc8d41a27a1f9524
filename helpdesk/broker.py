"""The Celery broker's transport: kombu's Redis transport, with channels that outlive a lost
connection as a connection error rather than a crash.

When Redis goes away, Celery 5.7 collects the lost connection (kombu then forgets the broker's
address, `transport.client = None`) and closes it afterwards; the channel, closed again, tries
to hand its prefetched messages back, and a task that finishes later acknowledges on it: both
read the address from the emptied transport and fail with AttributeError, which Celery takes
for an unrecoverable error. The worker exited at the first Redis restart (tests/faults). A
connection error is what Celery expects from a lost broker: it logs it and reconnects. What the
broker held comes back by the visibility timeout; what it lost, the sweep resends.
"""

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was lost and closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
