"""Signed reads under wrk for bench/compare.py: every request signed beforehand, with
its own nonce, into a file that a wrk Lua script sends line by line, each once.

wrk runs for a fixed time, so the file must hold more requests than the server answers
in that time: it is sized from the last rate seen on that path (``--seconds`` x 1.5 x
rate, at least 2,000 requests; the first run of a path guesses 3,000/s), and a run that used them all is run again with twice as
many (a thread that has none left stops, and the script prints EXHAUSTED; sending one
again would be a replay, which the server must refuse).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from read_path import Wrk
from signing import SCHEMES, Key

SIGNED = ("hmac", "kms", "aws")

# Each thread takes every n-th line of the file (n: the number of threads): method, path,
# body and then header names and values, tab-separated. wrk.format builds each request
# once, in init, so that sending one costs wrk no Lua work.
LUA = """
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
local requests, sent = {}, 0
function init(args)
  local count, n = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if n % count == id then
      local fields = {}
      for field in (line .. "\\t"):gmatch("([^\\t]*)\\t") do table.insert(fields, field) end
      local headers = {}
      for i = 4, #fields - 1, 2 do headers[fields[i]] = fields[i + 1] end
      local body = fields[3] ~= "" and fields[3] or nil
      table.insert(requests, wrk.format(fields[1], fields[2], headers, body))
    end
    n = n + 1
  end
  exhausted = 0
end
function request()
  sent = sent + 1
  if sent > #requests then
    exhausted = 1
    wrk.thread:stop()
    return requests[#requests]
  end
  return requests[sent]
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") == 1 then
      io.write("EXHAUSTED\\n")
      return
    end
  end
end
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Signer:
    """Signs reads of ``secret`` on ``key``'s server (``host``: the Host header signed)."""

    key: Key
    secret: str
    host: str

    def write(self, scheme: str, count: int, file: Path) -> None:
        sign = SCHEMES[scheme]
        lines = []
        for _ in range(count):
            method, target, headers, body = sign(self.key, self.secret)
            fields = [method, target, body.decode(), "Host", self.host]
            for name, value in headers.items():
                fields += [name, value]
            lines.append("\t".join(fields))
        file.write_text("\n".join(lines) + "\n")


def run_signed(
    signer: Signer,
    scheme: str,
    work: Path,
    seconds: int,
    last_rate: float,
    threads: int,
    wrk: Callable[[list[str], list[str], bool], Wrk],
) -> Wrk:
    """One wrk run of pre-signed ``scheme`` reads, by wrk's ``threads`` threads
    (``wrk(extra, script_args, fatal)`` runs wrk)."""
    script = work / "signed.lua"
    script.write_text(LUA)
    count = max(2000, int(last_rate * seconds * 1.5))
    while True:
        file = work / f"{scheme}.requests"
        signer.write(scheme, count, file)
        run = wrk(["-s", str(script)], [str(file), str(threads)], False)
        if "EXHAUSTED" not in run.out:
            if run.failures:
                raise SystemExit(f"failed {scheme} requests:\n{run.out}")
            return run
        count *= 2
