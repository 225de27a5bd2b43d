"""JSON API for the overview page: counts, throughput and activity durations."""

from __future__ import annotations

import asyncio

from aiohttp import web

from devhost.dashboard import params, waiting
from devhost.dashboard.context import STATS, WAITING
from devhost.dashboard.payloads import iso
from devhost.durable.models import RuntimeStatus
from devhost.errors import InvalidRequestError

routes = web.RouteTableDef()


@routes.get("/api/overview")
async def overview(request: web.Request) -> web.Response:
    """Aggregates over the hub; `window` and `bucket` (seconds) shape the completions chart."""
    unknown = sorted(set(request.query) - {"window", "bucket", "code"})
    if unknown:
        raise InvalidRequestError(f"unknown parameter(s): {', '.join(unknown)}; expected: bucket, window")
    window = params.parse_int(request.query.get("window", "300"), "window", 10, 86_400)
    bucket = params.parse_int(request.query.get("bucket", "10"), "bucket", 1, 3_600)
    if window // bucket > 1_000:
        raise InvalidRequestError("window/bucket: at most 1000 buckets")
    stats = request.app[STATS]
    statuses, names, completions, durations = await asyncio.gather(
        stats.status_counts(),
        stats.name_counts(),
        stats.completions_per_second(window, bucket),
        stats.activity_duration_percentiles(),
    )
    return web.json_response(
        {
            # Every status appears, in a stable order, so clients need not guess missing keys.
            "statusCounts": {status.value: statuses.get(status.value, 0) for status in RuntimeStatus},
            "nameCounts": dict(sorted(names.items(), key=lambda item: (-item[1], item[0]))),
            "total": sum(statuses.values()),
            "completions": {
                "windowSeconds": window,
                "bucketSeconds": bucket,
                "buckets": [
                    {"start": iso(start), "count": count, "perSecond": round(count / bucket, 3)}
                    for start, count in completions
                ],
            },
            "activityDurationsMs": durations,
            # Work items no connected worker takes, per kind and name (they run when such a worker connects).
            "waiting": waiting.by_name(request.app[WAITING]()),
        }
    )
