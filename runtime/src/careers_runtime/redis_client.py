"""One way for every service to reach Redis: a single node or a Redis Cluster, plain or TLS.

``REDIS_URL`` chooses:

- ``redis://[:password@]host:port/db`` or ``rediss://...`` (TLS): one node (or a primary
  behind a proxy, as ElastiCache/Memorystore without cluster mode);
- ``redis+cluster://[:password@]host:port[,host:port...]`` or ``rediss+cluster://...``:
  a Redis Cluster, discovered from any of the listed nodes.

Every key the services write carries a hash tag (``{job id}``, ``{user}``, ``{p<n>}``)
wherever one command or script touches several keys, so the same code runs on both.
"""

from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def redis_from_url(url: str, **options: Any) -> Redis | RedisCluster:
    """A client for ``url`` (see the module doc); ``options`` go to the client (timeouts)."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme)
    if scheme is None:
        return Redis.from_url(url, **options)
    # RedisCluster.from_url takes one node; the others are startup nodes for discovery.
    hosts = parts.netloc.rpartition("@")[2].split(",")
    userinfo = parts.netloc.rpartition("@")[0]
    first = f"{scheme}://{userinfo + '@' if userinfo else ''}{hosts[0]}"
    nodes = []
    for host in hosts:
        name, _, port = host.rpartition(":")
        nodes.append(ClusterNode(name or host, int(port or 6379)))
    return RedisCluster.from_url(first, startup_nodes=nodes, **options)


def limits_storage(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` as the ``limits`` library's asynchronous storage URI and its options
    (``limits`` has no TLS cluster scheme: TLS is an option there)."""
    scheme, _, rest = url.partition("://")
    if scheme == "redis+cluster":
        return f"async+redis+cluster://{rest}", {}
    if scheme == "rediss+cluster":
        return f"async+redis+cluster://{rest}", {"ssl": True}
    return f"async+{url}", {}
