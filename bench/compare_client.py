"""The client's figures for bench/compare.py, with bench/client_cache.py's and
bench/client_http.py's timers, against the benchmark's SQLite rotor: ``SecretCache`` hits
(``get_value`` of a 64-byte secret, ``get_json`` of a database secret; the mean of the
best batch) and ``Client.get_value`` against a bare ``http.client`` GET of the same URL
with the same header, one keep-alive connection each, interleaved, best of the rounds."""

from __future__ import annotations

import json
from typing import Any

from client_cache import DATABASE_SECRET, batch_ns
from client_http import BareReader, mean_us

from rotor.client import Client
from rotor.client.cache import SecretCache


def client_figures(url: str, token: str, smoke: bool) -> dict[str, Any]:
    key_id, key_secret = token.split(".", 1)
    hits, calls, rounds = (20_000, 100, 2) if smoke else (200_000, 500, 7)
    name, json_name = "bench/client", "bench/client-json"
    with Client(url, access_key_id=key_id, access_key_secret=key_secret) as client:
        client.create_secret(name, value="x" * 64)
        client.create_secret(json_name, value=json.dumps(DATABASE_SECRET))
        cache = SecretCache(client)
        cache.get_value(name)
        cache.get_json(json_name)
        value_ns = batch_ns(lambda: cache.get_value(name), hits)
        json_ns = batch_ns(lambda: cache.get_json(json_name), hits)

        bare = BareReader(client, url, name)
        contenders = {"Client.get_value": lambda: client.get_value(name), "http.client": bare.get}
        wall = dict.fromkeys(contenders, float("inf"))
        for _ in range(rounds):
            for label, function in contenders.items():
                bare.connection.close()  # the server closes idle keep-alive connections after 5 s
                function()
                wall[label] = min(wall[label], mean_us(function, calls)[0])
        bare.connection.close()
    return {
        "cache_get_value_us": value_ns / 1000,
        "cache_get_json_us": json_ns / 1000,
        "client_get_value_us": wall["Client.get_value"],
        "http_client_us": wall["http.client"],
    }
