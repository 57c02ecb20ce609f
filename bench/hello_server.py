"""A "hello" endpoint on rotor's server stack: FastAPI under uvicorn, with the options
`rotor serve` gives uvicorn (auto loop and HTTP implementation, no access log, no server
header). It is the ceiling for rotor's reads in bench/compare.py: what the stack itself
costs per request, with none of rotor's work.

    .venv/bin/python bench/hello_server.py --port 8001 [--workers 1]
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


# Any other request too: bench/compare.py sends it the signed reads' files, to show how
# fast wrk sends them (that wrk is not the limit).
@app.api_route("/{path:path}", methods=["GET", "POST"])
async def anything(path: str) -> dict[str, str]:
    return {"hello": path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "hello_server:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        server_header=False,
        loop="auto",
        http="auto",
    )


if __name__ == "__main__":
    main()
