"""Settings of the servers `bench.chat_delivery` starts: the product's, except the channel layer,
which BENCH_CHANNEL_LAYER names (`pubsub`, the production choice, or `core`, to compare) under a
Redis prefix of the bench's own."""

import os

from helpdesk.settings import *  # noqa: F403
from helpdesk.settings import REDIS_URL

CHANNEL_LAYER_BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKENDS[os.environ.get("BENCH_CHANNEL_LAYER", "pubsub")],
        "CONFIG": {
            "hosts": [{"address": REDIS_URL}],
            "prefix": os.environ.get("BENCH_CHANNEL_PREFIX", "asgi"),
        },
    }
}
